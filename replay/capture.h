/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_CAPTURE_H
#define ST_CAPTURE_H

/*
 * Where the mirrored copies come from: a network interface (libpcap,
 * TPACKET_V3 on Linux) or a pcap file. Only Ethernet link types are
 * taken.
 *
 * Live: the interface is opened promiscuous, with a kernel BPF filter
 * built from the configuration (st_capture_filter()), and read without
 * blocking; the caller waits on st_capture_fd(). The capture interface
 * needs no IP address: without one the host's own stack never answers a
 * copy (no RST for a connection it does not know, no ICMP).
 *
 * File: packets come at the pace they were captured (their times
 * relative to the first packet, divided by the speed), or as fast as
 * they can be read. The same filter is applied, so a file behaves as the
 * interface it was captured on.
 *
 * Not thread-safe: one thread reads a capture.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

/* What to open and how to read it. */
struct st_capture_opts {
	const char *interface;	/* live; or */
	const char *file;	/* a pcap file */
	double speed;		/* file: captured pace times this (> 0) */
	bool fast;		/* file: ignore the pace */
	const struct st_replay_capture_conf *conf;
	const uint16_t *http_ports;	/* NULL: any port */
	unsigned int nb_http_ports;
};

/* One packet; valid only during the callback. */
struct st_capture_packet {
	const uint8_t *data;
	uint32_t caplen;
	uint32_t wirelen;
	uint64_t ts_ns;		/* capture time, ns since the epoch */
};

typedef void (*st_capture_fn)(void *arg, const struct st_capture_packet *p);

struct st_capture_stats {
	uint64_t packets;		/* handed to the callback */
	uint64_t bytes;			/* their wire lengths */
	uint64_t kernel_dropped;	/* ring full (pcap_stats ps_drop) */
	uint64_t interface_dropped;	/* by the NIC or driver (ps_ifdrop) */
};

/* st_capture_read() result at the end of a file. */
#define ST_CAPTURE_EOF (-ENODATA)

struct st_capture;

/**
 * The BPF filter for a decapsulation mode: TCP on the HTTP ports, with or
 * without VLAN tags (none, vlan), VXLAN's UDP port (vxlan), GRE (gre,
 * erspan), or all of them (auto); @p extra, when not empty, ANDed in.
 * Pure function, thread-safe.
 *
 * @return 0, or -ENOSPC when @p out is too small
 */
int st_capture_filter(enum st_decap_mode mode, const uint16_t *ports,
		      unsigned int nb_ports, const char *extra, char *out,
		      size_t outlen);

/**
 * Open and start a capture.
 *
 * @param err  receives what went wrong, naming the interface or file
 * @return 0; -EINVAL (a bad filter, not Ethernet, a bad file), -ENODEV,
 *         -EPERM or -EIO
 */
int st_capture_open(const struct st_capture_opts *opts,
		    struct st_capture **out, char *err, size_t errlen);

/** Stop and free a capture (NULL is fine). */
void st_capture_close(struct st_capture *c);

/**
 * The descriptor to poll for input (live), or -1 (file: use the wait
 * st_capture_read() gives).
 */
int st_capture_fd(const struct st_capture *c);

/**
 * Hand the packets that are there (live) or due (file) to @p fn, at most
 * @p max of them.
 *
 * @param wait_ms  receives how long to wait before calling again when
 *                 nothing was due: 0 when more may be ready now, -1 when
 *                 the descriptor tells (live), else the time until the
 *                 next packet of a paced file
 * @param err      receives what went wrong
 * @return the number of packets handed over; ST_CAPTURE_EOF at the end of
 *         a file; -EIO on a read error
 */
int st_capture_read(struct st_capture *c, unsigned int max, st_capture_fn fn,
		    void *arg, int *wait_ms, char *err, size_t errlen);

/**
 * The counters, with the kernel's drop counts read now (live).
 */
void st_capture_stats(struct st_capture *c, struct st_capture_stats *out);

#endif
