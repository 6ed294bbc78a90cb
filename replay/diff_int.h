/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_DIFF_INT_H
#define ST_DIFF_INT_H

/*
 * Inside the differ (diff.h), for its tests only: st_diff_answers() with
 * its JSON fast path (the lockstep reading, see diff.c) switched on or
 * off, and telling whether jansson parsed and walked the bodies, so that
 * a test can hold the fast path against the walk it stands in for.
 */

#include <stdbool.h>

#include "diff.h"

struct st_diff_how {
	bool lockstep;	/* in: read two JSON bodies in lockstep first */
	bool walked;	/* out: jansson parsed and walked them */
};

/**
 * st_diff_answers(), the fast path as @p how says. st_diff_answers() is
 * this with how->lockstep set. Thread-safe.
 */
int st_diff_answers_how(const struct st_differ *d, int route,
			const struct st_record_message *primary,
			const struct st_record_message *other,
			st_diff_want_fn want, st_diff_fn fn, void *arg,
			struct st_diff_how *how);

#endif
