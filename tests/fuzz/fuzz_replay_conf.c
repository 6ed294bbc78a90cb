/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: shadowtap-replay's config, replay.yaml
 * (replay/conf.c), and what the engine builds from it at start
 * (replay/engine.c): the routes compiled into a classifier, and the
 * sanitizer's masks. An appliance config, examples/lab.yaml, sits beside
 * the input as appliance.yaml, for "routes_from: appliance.yaml".
 *
 * Input: the file. Checked: a failed load returns a negative errno and
 * names the file; a loaded config keeps its promises (routes:
 * conf_checks.h, with the replayed ones as the copied ones; replayed
 * routes exist; counts within bounds; noise rules name routes that
 * exist; the secondary is not the shadow); the sanitizer compiles
 * whatever the loader let through (conf.h: the modules it feeds need not
 * report a file's mistakes); a compile error of the routes names their
 * file; each classified request gets a route whose methods hold its own.
 *
 * Seeds: tests/fuzz/config_seeds.py (examples/replay.yaml, the tests'
 * replay configs).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "conf.h"
#include "conf_checks.h"
#include "sanitize.h"

static void
check_conf(const struct st_replay_conf *conf)
{
	const struct st_replay_compare_conf *cmp = &conf->compare;
	const struct st_replay_sanitize_conf *san = &conf->sanitize;
	unsigned int nb_routes = conf->routes.nb_routes, i;

	st_fuzz_check_routes(&conf->routes, conf->replayed);
	if (nb_routes < 64 && conf->replayed >> nb_routes != 0)
		abort();	/* a replayed route that does not exist */
	if (san->nb_drop_headers > ST_REPLAY_MAX_SANITIZE ||
	    san->nb_replace_headers > ST_REPLAY_MAX_SANITIZE ||
	    san->nb_json_fields > ST_REPLAY_MAX_SANITIZE ||
	    san->nb_patterns > ST_REPLAY_MAX_SANITIZE ||
	    cmp->nb_headers > ST_REPLAY_MAX_COMPARE_HEADERS ||
	    cmp->nb_noise > ST_REPLAY_MAX_NOISE)
		abort();
	for (i = 0; i < cmp->nb_noise; i++)
		if (cmp->noise[i].route < -1 ||
		    cmp->noise[i].route >= (int)nb_routes)
			abort();
	if (conf->has_shadow && conf->has_secondary &&
	    strcmp(conf->shadow.url, conf->secondary.url) == 0)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char text[16384];
	FILE *f = fopen(ST_FUZZ_APPLIANCE_YAML, "r");
	size_t len = f != NULL ? fread(text, 1, sizeof(text), f) : 0;

	(void)argc, (void)argv;
	if (f == NULL || ferror(f) || !feof(f)) {
		fprintf(stderr, "%s: unreadable or too big\n",
			ST_FUZZ_APPLIANCE_YAML);
		abort();
	}
	fclose(f);
	st_fuzz_file("appliance.yaml", text, len);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct st_replay_conf conf;	/* too big for the stack */
	struct st_classifier_scratch *scratch;
	struct st_classifier *classifier;
	const char *path = st_fuzz_file("replay.yaml", data, size);
	struct st_sanitizer *sanitizer;
	char err[1024];
	int ret;

	ret = st_replay_conf_load(path, &conf, err, sizeof(err));
	if (ret != 0) {
		st_fuzz_check_failure(path, ret, err);
		return 0;
	}
	check_conf(&conf);
	if (st_sanitizer_create(&conf.sanitize, &sanitizer, err,
				sizeof(err)) != 0) {
		fprintf(stderr, "sanitizer refused a loaded file: %s\n", err);
		abort();
	}
	st_sanitizer_free(sanitizer);
	/* The routes' own file: this one, or routes_from's. */
	ret = st_classifier_create(&conf.routes, &classifier, err,
				   sizeof(err));
	if (ret != 0) {
		st_fuzz_check_failure(conf.routes.path, ret, err);
		return 0;
	}
	if (st_classifier_scratch_alloc(classifier, &scratch) != 0)
		abort();
	st_fuzz_classify(&conf.routes, classifier, scratch);
	st_classifier_scratch_free(scratch);
	st_classifier_free(classifier);
	return 0;
}
