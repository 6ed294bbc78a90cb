/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_DECAP_H
#define ST_DECAP_H

/*
 * From a captured frame to the TCP segment inside it, through whatever
 * tx_shadow wrapped it in: none, 802.1Q/802.1ad tags (VLAN, QinQ), VXLAN
 * (UDP 4789, also AWS VPC Traffic Mirroring's), GRE (Transparent Ethernet
 * Bridging, optional key) or ERSPAN type II. The encapsulation is detected
 * per frame, or fixed by the configuration (then other frames are
 * refused as ST_DECAP_OTHER_ENCAP).
 *
 * Detection: in auto mode VXLAN is UDP to port 4789; the fixed VXLAN mode
 * also takes another port when the VXLAN "I" flag is set (the appliance's
 * port is configurable). GRE is protocol 0x6558, ERSPAN type II GRE
 * protocol 0x88be with a sequence number. The outer packet may be IPv4 or
 * IPv6 and tagged (except in mode "none", which refuses tags); the inner
 * frame may carry one or two tags. In modes "none" and "vlan" a tunnel is
 * taken at face value: IP that is not TCP. IPv6 extension headers
 * (hop-by-hop, routing, destination options, AH) are skipped; IPv4
 * options are fine. Ethernet padding is not part of the payload.
 *
 * A frame cut short (caplen < wire length, or an ERSPAN T bit, or IP
 * lengths beyond the bytes present) is ST_DECAP_TRUNCATED: counted and
 * skipped by the caller, never guessed at. Pure function: thread-safe.
 */

#include <stdint.h>

#include "reasm.h"

enum st_decap_mode {
	ST_DECAP_AUTO,
	ST_DECAP_NONE,
	ST_DECAP_VLAN,		/* one or two tags, or none */
	ST_DECAP_VXLAN,
	ST_DECAP_GRE,
	ST_DECAP_ERSPAN,
	ST_DECAP_MODES
};

/* st_decap() results: a segment, or why not. */
enum st_decap_result {
	ST_DECAP_OK,
	ST_DECAP_NOT_IP,	/* ARP, LLDP, ... */
	ST_DECAP_NOT_TCP,	/* IP, but not TCP (ICMP, UDP not a tunnel) */
	ST_DECAP_FRAGMENT,	/* IP fragments are not reassembled */
	ST_DECAP_TRUNCATED,
	ST_DECAP_MALFORMED,	/* lengths or versions that make no sense */
	ST_DECAP_OTHER_ENCAP,	/* not the encapsulation the config fixes */
	ST_DECAP_RESULTS
};

/** Name of a mode as the config writes it ("vxlan"), NULL if out of range. */
const char *st_decap_mode_name(enum st_decap_mode m);

/** Name of a result for counters ("truncated"), NULL if out of range. */
const char *st_decap_result_name(enum st_decap_result r);

/**
 * Find the TCP segment in a frame.
 *
 * @param frame    first byte of the Ethernet header
 * @param caplen   bytes captured
 * @param wirelen  the frame's length on the wire
 * @param mode     what to expect (out of range: every frame is
 *                 ST_DECAP_OTHER_ENCAP)
 * @param seg      filled when ST_DECAP_OK (payload points into @p frame;
 *                 ts_ns is left to the caller)
 * @return an enum st_decap_result
 */
enum st_decap_result st_decap(const uint8_t *frame, uint32_t caplen,
			      uint32_t wirelen, enum st_decap_mode mode,
			      struct st_tcp_segment *seg);

#endif
