/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_CONFIG_H
#define ST_CONFIG_H

/*
 * The configuration model: what the YAML file says, validated. Loading
 * needs no EAL and links no DPDK; port names are resolved to port ids
 * once devices exist (st_config_resolve(), control/resolve.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_MIRRORS 8
#define ST_MAX_ROUTES 64
#define ST_MAX_ROUTE_HEADERS 4	/* header conditions per route */
#define ST_NAME_MAX 32		/* mirror and route names, with the NUL */
#define ST_DEVNAME_MAX 64	/* device names such as 0000:3b:00.0 */
#define ST_HEADER_NAME_MAX 64	/* HTTP header names, with the NUL */
#define ST_REGEX_MAX 256	/* route regular expressions, with the NUL */
#define ST_MAX_HTTP_PORTS 16	/* http.ports */
#define ST_MAX_PORT_IDS 32	/* port ids 0..31: DPDK's RTE_MAX_ETHPORTS */

/* HTTP/1.x methods a route can name; bit (1 << m) in a method mask. */
enum st_http_method {
	ST_HTTP_GET,
	ST_HTTP_HEAD,
	ST_HTTP_POST,
	ST_HTTP_PUT,
	ST_HTTP_DELETE,
	ST_HTTP_PATCH,
	ST_HTTP_OPTIONS,
	ST_HTTP_CONNECT,
	ST_HTTP_TRACE,
	ST_HTTP_METHODS
};

/* Writes: a shadow that shares state with the primary would repeat them
 * (orders, charges), so they are mirrored only on explicit opt-in. */
#define ST_HTTP_WRITE_METHODS                                        \
	((1u << ST_HTTP_POST) | (1u << ST_HTTP_PUT) |                 \
	 (1u << ST_HTTP_PATCH) | (1u << ST_HTTP_DELETE))
#define ST_HTTP_ALL_METHODS ((1u << ST_HTTP_METHODS) - 1)

/** Name of a method ("GET"), or NULL when @p m is out of range. */
const char *st_http_method_name(enum st_http_method m);

/* A regular expression as written, with where it was written. */
struct st_regex_conf {
	char pattern[ST_REGEX_MAX];	/* empty: no condition */
	int line;
};

struct st_route_header_conf {
	char name[ST_HEADER_NAME_MAX];	/* lower case */
	struct st_regex_conf value;
};

/*
 * A route: requests it matches (every condition given must hold) and
 * what happens to their flows. Routes are tried in order; the first
 * that matches a request wins.
 */
struct st_route_conf {
	char name[ST_NAME_MAX];
	int line;
	uint32_t methods;	/* methods it matches; see allow_writes */
	struct st_regex_conf path;	/* on the request target */
	struct st_regex_conf host;	/* on the Host header */
	unsigned int nb_headers;
	struct st_route_header_conf headers[ST_MAX_ROUTE_HEADERS];
	uint32_t mirrors;	/* bit i: cfg->mirrors[i]; 0: "mirror: none" */
	double percent;		/* share of matching flows mirrored */
	bool allow_writes;
	/* Where its counters are (struct st_worker_stats.route): its index
	 * as loaded; a running appliance keeps a route's slot by name across
	 * reloads, so its counters stay with it. */
	uint8_t stats_slot;
};

struct st_http_conf {
	uint32_t max_head_bytes;	/* request head bytes looked at */
	/* TCP ports requests come on (either end of a connection); none:
	 * any. Traffic off these ports no route can select: it is
	 * forwarded without a flow when no mirror takes unrouted flows, and
	 * a NIC's flow engine may mark it so (rte_flow). */
	uint16_t ports[ST_MAX_HTTP_PORTS];
	unsigned int nb_ports;
	int line;			/* 0 when not in the file */
};

/* A port as written in the config: a DPDK port id or a device name. */
struct st_port_ref {
	char devname[ST_DEVNAME_MAX];	/* empty when given as an id */
	uint16_t port_id;		/* valid after st_config_resolve() */
	int line;			/* where it was written, for errors */
};

/* How copies are wrapped on their way to a shadow. */
enum st_encap_type {
	ST_ENCAP_NONE,		/* the frame as it was */
	ST_ENCAP_VLAN,		/* an 802.1Q tag added after the MACs */
	ST_ENCAP_VXLAN,		/* Ethernet/IPv4/UDP/VXLAN (RFC 7348) */
	ST_ENCAP_GRE,		/* Ethernet/IPv4/GRE, Transparent Ethernet
				 * Bridging (0x6558), optional key */
	ST_ENCAP_ERSPAN,	/* Ethernet/IPv4/GRE/ERSPAN type II */
	ST_ENCAP_TYPES
};

/** Name of an encapsulation ("vxlan"), or NULL when out of range. */
const char *st_encap_name(enum st_encap_type t);

/*
 * An encapsulation and its parameters. Which fields apply depends on the
 * type; the loader refuses keys that do not apply. Addresses are stored
 * in network byte order, as they go on the wire.
 */
struct st_encap_conf {
	enum st_encap_type type;
	int line;			/* 0 when not in the file */
	/* vlan */
	uint16_t vlan_id;		/* 1..4094 */
	uint8_t pcp;			/* 0..7 */
	/* vxlan, gre, erspan: the outer Ethernet and IPv4 headers */
	bool has_src_mac;		/* else the shadow port's own MAC */
	uint8_t src_mac[6];
	uint8_t dst_mac[6];		/* required */
	uint32_t src_ip;		/* required */
	uint32_t dst_ip;		/* required */
	uint8_t ttl;			/* default 64 */
	uint8_t dscp;			/* 0..63, default 0 */
	/* vxlan */
	uint32_t vni;			/* 0..2^24-1, required */
	uint16_t dst_port;		/* default 4789 */
	uint16_t src_port;		/* 0: from the flow's hash, as VXLAN
					 * senders do, in 49152..65535 */
	bool udp_checksum;		/* default true; false sends 0 */
	/* gre */
	bool has_key;
	uint32_t key;
	/* erspan */
	uint16_t session_id;		/* 0..1023, required */
};

struct st_mirror_conf {
	char name[ST_NAME_MAX];
	struct st_port_ref port;
	double percent;		/* share of flows no route claims */
	uint32_t truncate;	/* bytes of the original kept; 0: all */
	struct st_encap_conf encap;
	int line;
};

struct st_flow_table_conf {
	uint32_t size;		/* entries per worker */
	uint32_t idle_timeout_s;
	int line;		/* 0 when not in the file */
};

struct st_config {
	char path[4096];
	struct st_port_ref client;
	struct st_port_ref server;
	/* ports.link_propagation: while one wire port has no link, the
	 * other is taken down, so that the neighbours on both sides see the
	 * fault (dataplane/link.h). A reload may change it. */
	bool link_propagation;
	unsigned int nb_mirrors;
	struct st_mirror_conf mirrors[ST_MAX_MIRRORS];
	unsigned int nb_routes;
	struct st_route_conf routes[ST_MAX_ROUTES];
	struct st_http_conf http;
	struct st_flow_table_conf flow_table;
};

/**
 * Load and validate a YAML config file.
 *
 * @param path    file to read
 * @param cfg     filled on success; left in an unspecified state on error
 * @param err     receives "FILE:LINE: what is wrong" on error
 * @param errlen  size of @p err
 * @return 0, or a negative errno (-ENOENT, -EINVAL, ...)
 */
int st_config_load(const char *path, struct st_config *cfg, char *err,
		   size_t errlen);

#endif
