/* SPDX-License-Identifier: BSD-3-Clause */
#include "record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const outcome_names[ST_RECORD_OUTCOMES] = {
	[ST_RECORD_REPLAYED] = "replayed",
	[ST_RECORD_TIMEOUT] = "timeout",
	[ST_RECORD_REFUSED] = "refused",
	[ST_RECORD_RESET] = "reset",
	[ST_RECORD_ERROR] = "error",
	[ST_RECORD_DRY_RUN] = "dry_run",
	[ST_RECORD_SKIPPED_WRITE] = "skipped_write",
	[ST_RECORD_SKIPPED_BUSY] = "skipped_busy",
	[ST_RECORD_SKIPPED_TRUNCATED] = "skipped_truncated",
	[ST_RECORD_SKIPPED_METHOD] = "skipped_method",
	[ST_RECORD_SKIPPED_ROUTE] = "skipped_route",
};

static const char *const end_names[ST_EXCHANGE_END_COUNT] = {
	[ST_EXCHANGE_ANSWERED] = "answered",
	[ST_EXCHANGE_NO_RESPONSE] = "no_response",
	[ST_EXCHANGE_GAP] = "gap",
	[ST_EXCHANGE_MALFORMED] = "malformed",
};

const char *
st_record_outcome_name(enum st_record_outcome o)
{
	return (unsigned int)o < ST_RECORD_OUTCOMES ? outcome_names[o] : NULL;
}

const char *
st_record_end_name(enum st_exchange_end e)
{
	return (unsigned int)e < ST_EXCHANGE_END_COUNT ? end_names[e] : NULL;
}

/* Milliseconds to three decimals; the log is dumped with
 * JSON_REAL_PRECISION(15) so that they print as such. */
static json_t *
ms_json(double ms)
{
	return ms < 0 ? json_null() : json_real(round(ms * 1000) / 1000);
}

static json_t *
status_json(int status)
{
	return status > 0 ? json_integer(status) : json_null();
}

/* RFC 3339, UTC, microseconds: "2024-05-01T12:00:00.123456Z". */
static json_t *
ts_json(uint64_t ts_ns)
{
	time_t sec = (time_t)(ts_ns / 1000000000);
	char text[sizeof("YYYY-MM-DDTHH:MM:SS.uuuuuuZ") + 8];
	struct tm tm;
	size_t n;

	if (gmtime_r(&sec, &tm) == NULL)
		return json_null();
	n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(text + n, sizeof(text) - n, ".%06uZ",
		 (unsigned int)(ts_ns % 1000000000 / 1000));
	return json_string(text);
}

/* Text that came off the wire may not be UTF-8: jansson refuses that,
 * so such text is logged with each byte as its Latin-1 character. */
static json_t *
text_json(const char *s)
{
	json_t *v = json_string(s);
	char *utf8, *p;

	if (v != NULL)
		return v;
	utf8 = malloc(strlen(s) * 2 + 1);
	if (utf8 == NULL)
		return NULL;
	for (p = utf8; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x80) {
			*p++ = (char)c;
		} else {
			*p++ = (char)(0xc0 | c >> 6);
			*p++ = (char)(0x80 | (c & 0x3f));
		}
	}
	*p = '\0';
	v = json_string(utf8);
	free(utf8);
	return v;
}

json_t *
st_record_json(const struct st_record *r)
{
	json_t *line = json_pack(
		"{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, "
		"s:s, s:o}",
		"id", (json_int_t)r->id, "conn", (json_int_t)r->conn_id,
		"route",
		r->route_name != NULL ? json_string(r->route_name) :
					json_null(),
		"method", text_json(r->method), "target", text_json(r->target),
		"host", text_json(r->host), "primary_status",
		status_json(r->primary.status), "primary_ms",
		ms_json(r->primary.ttfb_ms), "primary_end",
		st_record_end_name(r->primary_end), "shadow_status",
		status_json(r->shadow.status), "shadow_ms",
		ms_json(r->shadow.ttfb_ms), "outcome",
		st_record_outcome_name(r->outcome), "ts", ts_json(r->ts_ns));

	if (line != NULL && r->has_secondary &&
	    json_object_update_new(
		    line,
		    json_pack("{s:o, s:o, s:s}", "secondary_status",
			      status_json(r->secondary.status),
			      "secondary_ms", ms_json(r->secondary.ttfb_ms),
			      "secondary_outcome",
			      st_record_outcome_name(r->secondary_outcome))) !=
		    0) {
		json_decref(line);
		return NULL;
	}
	return line;
}
