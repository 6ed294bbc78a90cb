/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_CTL_H
#define ST_CTL_H

/*
 * The control socket (docs/control.md): a unix socket served by the
 * control thread, one JSON request per line, one JSON reply per line.
 * Commands that change the configuration build the new one here and hand
 * it to the dataplane's apply function, which swaps it in.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "view.h"

struct st_ctl;

/*
 * Make @p cfg (malloc'd; taken in all cases) and @p mirrors_enabled the
 * running configuration. @p recompile: the routes changed. Returns 0, or
 * a negative errno with @p err saying why (nothing changed then).
 */
typedef int (*st_ctl_apply_fn)(void *arg, struct st_config *cfg,
			       uint32_t mirrors_enabled, bool recompile,
			       char *err, size_t errlen);

/**
 * Create the socket at @p path (its directory too) with mode 0660 and
 * start listening. Fails when another process serves that path.
 *
 * @param view   the running config and counters
 * @param apply  how a new configuration is put in place
 * @return 0, or a negative errno with @p err saying why
 */
int st_ctl_start(const char *path, struct st_view *view, st_ctl_apply_fn apply,
		 void *apply_arg, struct st_ctl **out, char *err,
		 size_t errlen);

/**
 * Serve clients: wait up to @p timeout_ms for activity, handle what came.
 * Call it from the control thread's loop.
 */
void st_ctl_poll(struct st_ctl *ctl, int timeout_ms);

/** Close every connection and remove the socket (NULL is fine). */
void st_ctl_stop(struct st_ctl *ctl);

#endif
