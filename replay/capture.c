/* SPDX-License-Identifier: BSD-3-Clause */
#include "capture.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap/pcap.h>

/*
 * Live capture reads TPACKET_V3 blocks, which the kernel hands over when
 * one is full or when this timeout retires it. Immediate mode would wake
 * the loop for every packet (libpcap then falls back to TPACKET_V2) for a
 * latency nothing here needs: exchanges are timed with the packets'
 * kernel timestamps, not when the loop sees them, and a copy replayed
 * 10 ms later is timed by the shadow client from its own send. So the
 * batching of V3 is kept, and this bounds the delay it adds.
 */
#define LIVE_BLOCK_TIMEOUT_MS 10
/* A file is read through this much stdio buffer: at glibc's default (one
 * page) a --fast replay spent 8% of its time in read(2). Without it
 * (no memory) stdio's own buffer does. */
#define FILE_BUFFER_BYTES (1 << 20)

struct st_capture {
	pcap_t *pcap;
	char *file_buffer;	/* the file's stdio buffer; after pcap_close */
	bool live;
	bool fast;
	bool nano;		/* timestamps in ns, else us */
	double speed;
	int fd;
	/* A paced file: the packet read but not due yet, and the clocks the
	 * pace is kept against. */
	bool have_next;
	struct pcap_pkthdr *next_hdr;
	const u_char *next_data;
	bool started;
	uint64_t first_ts_ns;
	uint64_t start_ns;	/* CLOCK_MONOTONIC at the first packet */
	/* pcap_dispatch()'s callback gets only one pointer. */
	st_capture_fn fn;
	void *fn_arg;
	struct st_capture_stats stats;
};

static uint64_t
monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* Append to a filter; false when it does not fit. */
static bool __attribute__((format(printf, 4, 5)))
append(char *out, size_t outlen, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + *len, outlen - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= outlen - *len)
		return false;
	*len += (size_t)n;
	return true;
}

int
st_capture_filter(enum st_decap_mode mode, const uint16_t *ports,
		  unsigned int nb_ports, const char *extra, char *out,
		  size_t outlen)
{
	char tcp[16 * ST_MAX_HTTP_PORTS + 32];
	size_t tcp_len = 0, len = 0;
	bool ok = outlen > 0;
	unsigned int i;

	ok = ok && append(tcp, sizeof(tcp), &tcp_len, "tcp");
	for (i = 0; ok && i < nb_ports; i++)
		ok = append(tcp, sizeof(tcp), &tcp_len, "%s%u",
			    i == 0 ? " and (port " : " or port ", ports[i]);
	if (ok && nb_ports > 0)
		ok = append(tcp, sizeof(tcp), &tcp_len, ")");
	if (ok && extra != NULL && extra[0] != '\0')
		ok = append(out, outlen, &len, "(");
	/* libpcap's "vlan" moves every test written after it past a tag,
	 * in every branch: the tagged branches come last, the QinQ one
	 * (two tags) inside the single-tagged one. */
	switch (mode) {
	case ST_DECAP_NONE:
		ok = ok && append(out, outlen, &len, "%s", tcp);
		break;
	case ST_DECAP_VLAN:
		ok = ok && append(out, outlen, &len,
				  "(%s) or (vlan and ((%s) or (vlan and %s)))",
				  tcp, tcp, tcp);
		break;
	case ST_DECAP_VXLAN:
		ok = ok && append(out, outlen, &len, "udp dst port 4789");
		break;
	case ST_DECAP_GRE:
	case ST_DECAP_ERSPAN:
		ok = ok && append(out, outlen, &len, "ip proto 47");
		break;
	default:
		ok = ok && append(out, outlen, &len,
				  "(%s) or (udp dst port 4789) or (ip proto "
				  "47) or (vlan and ((%s) or (vlan and %s)))",
				  tcp, tcp, tcp);
		break;
	}
	if (ok && extra != NULL && extra[0] != '\0')
		ok = append(out, outlen, &len, ") and (%s)", extra);
	return ok ? 0 : -ENOSPC;
}

/* Compile and install the filter, refuse what is not Ethernet. */
static int
prepare(struct st_capture *c, const struct st_capture_opts *o,
	const char *what, char *err, size_t errlen)
{
	char filter[4 * ST_REGEX_MAX];
	struct bpf_program prog;
	int link = pcap_datalink(c->pcap);

	if (link != DLT_EN10MB) {
		snprintf(err, errlen, "%s: link type %s (%d) is not Ethernet: "
			 "the replay reads Ethernet frames only", what,
			 pcap_datalink_val_to_name(link) ?
				 pcap_datalink_val_to_name(link) : "unknown",
			 link);
		return -EINVAL;
	}
	if (st_capture_filter(o->conf->decap, o->http_ports, o->nb_http_ports,
			      o->conf->bpf, filter, sizeof(filter)) != 0) {
		snprintf(err, errlen, "%s: capture filter too long", what);
		return -EINVAL;
	}
	if (pcap_compile(c->pcap, &prog, filter, 1,
			 PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "%s: capture filter '%s': %s", what,
			 filter, pcap_geterr(c->pcap));
		return -EINVAL;
	}
	if (pcap_setfilter(c->pcap, &prog) != 0) {
		snprintf(err, errlen, "%s: setting the capture filter: %s",
			 what, pcap_geterr(c->pcap));
		pcap_freecode(&prog);
		return -EIO;
	}
	pcap_freecode(&prog);
	return 0;
}

static int
activate_error(int rc)
{
	switch (rc) {
	case PCAP_ERROR_NO_SUCH_DEVICE:
		return -ENODEV;
	case PCAP_ERROR_PERM_DENIED:
	case PCAP_ERROR_PROMISC_PERM_DENIED:
		return -EPERM;
	default:
		return -EIO;
	}
}

static int
open_live(struct st_capture *c, const struct st_capture_opts *o, char *err,
	  size_t errlen)
{
	const struct st_replay_capture_conf *conf = o->conf;
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	int rc;

	c->pcap = pcap_create(o->interface, errbuf);
	if (c->pcap == NULL) {
		snprintf(err, errlen, "--interface %s: %s", o->interface,
			 errbuf);
		return -ENODEV;
	}
	c->live = true;
	pcap_set_snaplen(c->pcap, (int)conf->snaplen);
	pcap_set_promisc(c->pcap, 1);
	pcap_set_buffer_size(c->pcap, (int)(conf->buffer_mb << 20));
	pcap_set_timeout(c->pcap, LIVE_BLOCK_TIMEOUT_MS);
	/* Microseconds when the kernel cannot do better. */
	pcap_set_tstamp_precision(c->pcap, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(c->pcap);
	if (rc < 0) {
		snprintf(err, errlen, "--interface %s: %s%s%s", o->interface,
			 pcap_statustostr(rc),
			 rc == PCAP_ERROR ? ": " : "",
			 rc == PCAP_ERROR ? pcap_geterr(c->pcap) : "");
		return activate_error(rc);
	}
	c->nano = pcap_get_tstamp_precision(c->pcap) ==
		  PCAP_TSTAMP_PRECISION_NANO;
	if ((rc = prepare(c, o, o->interface, err, errlen)) != 0)
		return rc;
	if (pcap_setnonblock(c->pcap, 1, errbuf) != 0 ||
	    (c->fd = pcap_get_selectable_fd(c->pcap)) < 0) {
		snprintf(err, errlen, "--interface %s: cannot poll: %s",
			 o->interface, errbuf[0] ? errbuf : "no descriptor");
		return -EIO;
	}
	return 0;
}

static int
open_file(struct st_capture *c, const struct st_capture_opts *o, char *err,
	  size_t errlen)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	FILE *f;

	/* Opened here rather than by pcap_open_offline() so that the
	 * stream gets its buffer before its first read. */
	f = strcmp(o->file, "-") == 0 ? stdin : fopen(o->file, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "--pcap %s: %s", o->file,
			 strerror(errno));
		return -EINVAL;
	}
	c->file_buffer = malloc(FILE_BUFFER_BYTES);
	if (c->file_buffer != NULL)
		setvbuf(f, c->file_buffer, _IOFBF, FILE_BUFFER_BYTES);
	/* From here on pcap_close() closes f; a failed open leaves it. */
	c->pcap = pcap_fopen_offline_with_tstamp_precision(
		f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (c->pcap == NULL) {
		if (f != stdin)
			fclose(f);
		snprintf(err, errlen, "--pcap %s: %s", o->file, errbuf);
		return -EINVAL;
	}
	c->nano = true;
	c->fd = -1;
	c->fast = o->fast;
	c->speed = o->speed > 0 ? o->speed : 1;
	return prepare(c, o, o->file, err, errlen);
}

int
st_capture_open(const struct st_capture_opts *opts, struct st_capture **out,
		char *err, size_t errlen)
{
	struct st_capture *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = opts->interface != NULL ? open_live(c, opts, err, errlen) :
				       open_file(c, opts, err, errlen);
	if (rc != 0) {
		st_capture_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
st_capture_close(struct st_capture *c)
{
	if (c == NULL)
		return;
	if (c->pcap != NULL)
		pcap_close(c->pcap);
	free(c->file_buffer);
	free(c);
}

int
st_capture_fd(const struct st_capture *c)
{
	return c->fd;
}

static void
deliver(struct st_capture *c, const struct pcap_pkthdr *h, const u_char *data)
{
	struct st_capture_packet p = {
		.data = data,
		.caplen = h->caplen,
		.wirelen = h->len,
		.ts_ns = (uint64_t)h->ts.tv_sec * 1000000000 +
			 (uint64_t)h->ts.tv_usec * (c->nano ? 1 : 1000),
	};

	c->stats.packets++;
	c->stats.bytes += h->len;
	c->fn(c->fn_arg, &p);
}

static void
on_dispatch(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	deliver((struct st_capture *)user, h, data);
}

/* Whether the packet held is due; if not, how long until it is. */
static bool
due(struct st_capture *c, int *wait_ms)
{
	uint64_t ts = (uint64_t)c->next_hdr->ts.tv_sec * 1000000000 +
		      (uint64_t)c->next_hdr->ts.tv_usec;
	uint64_t now = monotonic_ns(), at;

	if (!c->started) {
		c->started = true;
		c->first_ts_ns = ts;
		c->start_ns = now;
	}
	/* A packet stamped before the first one is due at once. */
	at = c->start_ns + (ts > c->first_ts_ns ?
				    (uint64_t)((double)(ts - c->first_ts_ns) /
					       c->speed) :
				    0);
	if (c->fast || at <= now)
		return true;
	*wait_ms = (int)((at - now + 999999) / 1000000);
	return false;
}

static int
read_file(struct st_capture *c, unsigned int max, int *wait_ms, char *err,
	  size_t errlen)
{
	const u_char *data;
	unsigned int n = 0;
	int rc;

	*wait_ms = 0;
	while (n < max) {
		if (!c->have_next) {
			rc = pcap_next_ex(c->pcap, &c->next_hdr, &data);
			if (rc == PCAP_ERROR_BREAK)
				return n > 0 ? (int)n : ST_CAPTURE_EOF;
			if (rc != 1) {
				snprintf(err, errlen, "reading the file: %s",
					 pcap_geterr(c->pcap));
				return -EIO;
			}
			c->next_data = data;
			c->have_next = true;
		}
		if (!due(c, wait_ms))
			break;
		c->have_next = false;
		deliver(c, c->next_hdr, c->next_data);
		n++;
	}
	return (int)n;
}

int
st_capture_read(struct st_capture *c, unsigned int max, st_capture_fn fn,
		void *arg, int *wait_ms, char *err, size_t errlen)
{
	int n;

	c->fn = fn;
	c->fn_arg = arg;
	if (!c->live)
		return read_file(c, max, wait_ms, err, errlen);
	n = pcap_dispatch(c->pcap, (int)max, on_dispatch, (u_char *)c);
	if (n < 0) {
		snprintf(err, errlen, "capture: %s", pcap_geterr(c->pcap));
		return -EIO;
	}
	*wait_ms = (unsigned int)n < max ? -1 : 0;
	return n;
}

void
st_capture_stats(struct st_capture *c, struct st_capture_stats *out)
{
	struct pcap_stat ps;

	if (c->live && pcap_stats(c->pcap, &ps) == 0) {
		c->stats.kernel_dropped = ps.ps_drop;
		c->stats.interface_dropped = ps.ps_ifdrop;
	}
	*out = c->stats;
}
