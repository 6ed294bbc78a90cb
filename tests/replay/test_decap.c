/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of replay/decap.h: frames are built here byte by byte, the
 * way tx_shadow/encap.c writes them, and handed to st_decap() as heap
 * copies of exactly their captured length, so that any over-read shows up
 * under AddressSanitizer.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "decap.h"

#define PAYLOAD "GET / HTTP/1.1\r\n\r\n"

struct frame {
	uint8_t b[1024];
	uint32_t len;
};

static void
put(struct frame *f, const void *p, uint32_t n)
{
	assert_true(f->len + n <= sizeof(f->b));
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void
put8(struct frame *f, uint8_t v)
{
	put(f, &v, 1);
}

static void
put16(struct frame *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

static void
put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void
set16(struct frame *f, uint32_t off, uint16_t v)
{
	f->b[off] = (uint8_t)(v >> 8);
	f->b[off + 1] = (uint8_t)v;
}

/* Ethernet with @p nb_tags tags (an 802.1ad outer one first for two). */
static void
put_eth(struct frame *f, int nb_tags, uint16_t type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };
	int i;

	put(f, macs, sizeof(macs));
	for (i = 0; i < nb_tags; i++) {
		put16(f, nb_tags == 2 && i == 0 ? 0x88a8 : 0x8100);
		put16(f, (uint16_t)(100 + i));
	}
	put16(f, type);
}

/* An IPv4 header with @p opt_words words of options; returns its offset
 * (the total length is patched by end_ipv4()). */
static uint32_t
put_ipv4(struct frame *f, uint8_t proto, int opt_words)
{
	uint32_t off = f->len;
	int i;

	put8(f, (uint8_t)(0x45 + opt_words));
	put8(f, 0);
	put16(f, 0);		/* total length */
	put32(f, 0);		/* id, no fragment */
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, 0xc0000201);	/* 192.0.2.1 */
	put32(f, 0xc0000202);
	for (i = 0; i < opt_words; i++)
		put32(f, 0x01010101);	/* NOPs */
	return off;
}

static void
end_ipv4(struct frame *f, uint32_t ip_off)
{
	set16(f, ip_off + 2, (uint16_t)(f->len - ip_off));
}

/* IPv6 with extension headers @p ext (each 8 bytes), then @p proto. */
static uint32_t
put_ipv6(struct frame *f, const uint8_t *ext, int nb_ext, uint8_t proto)
{
	uint32_t off = f->len;
	int i;

	put32(f, 0x60000000);
	put16(f, 0);		/* payload length */
	put8(f, nb_ext > 0 ? ext[0] : proto);
	put8(f, 64);
	for (i = 0; i < 16; i++)
		put8(f, (uint8_t)(i == 0 ? 0x20 : i == 15 ? 1 : 0));
	for (i = 0; i < 16; i++)
		put8(f, (uint8_t)(i == 0 ? 0x20 : i == 15 ? 2 : 0));
	for (i = 0; i < nb_ext; i++) {
		put8(f, i + 1 < nb_ext ? ext[i + 1] : proto);
		put8(f, 0);	/* 8 bytes */
		put16(f, 0);
		put32(f, 0);
	}
	return off;
}

static void
end_ipv6(struct frame *f, uint32_t ip_off)
{
	set16(f, ip_off + 4, (uint16_t)(f->len - ip_off - 40));
}

/* TCP 1234 -> 80, seq 1000, ack 2000, PSH|ACK, @p opt_words of options. */
static void
put_tcp(struct frame *f, int opt_words, const char *payload)
{
	int i;

	put16(f, 1234);
	put16(f, 80);
	put32(f, 1000);
	put32(f, 2000);
	put8(f, (uint8_t)((5 + opt_words) << 4));
	put8(f, 0x18);
	put16(f, 65535);
	put32(f, 0);
	for (i = 0; i < opt_words; i++)
		put32(f, 0x01010101);
	put(f, payload, (uint32_t)strlen(payload));
}

/* A complete frame: Ethernet, @p nb_tags tags, IPv4 or IPv6, TCP. */
static void
build_inner(struct frame *f, int nb_tags, int family)
{
	uint32_t ip;

	if (family == AF_INET) {
		put_eth(f, nb_tags, 0x0800);
		ip = put_ipv4(f, IPPROTO_TCP, 0);
		put_tcp(f, 0, PAYLOAD);
		end_ipv4(f, ip);
	} else {
		put_eth(f, nb_tags, 0x86dd);
		ip = put_ipv6(f, NULL, 0, IPPROTO_TCP);
		put_tcp(f, 0, PAYLOAD);
		end_ipv6(f, ip);
	}
}

static void
put_frame(struct frame *f, const struct frame *inner)
{
	put(f, inner->b, inner->len);
}

static void
build_vxlan(struct frame *f, const struct frame *inner, uint16_t port,
	    uint8_t flags)
{
	uint32_t ip, udp;

	put_eth(f, 0, 0x0800);
	ip = put_ipv4(f, IPPROTO_UDP, 0);
	udp = f->len;
	put16(f, 49152);
	put16(f, port);
	put16(f, (uint16_t)(16 + inner->len));
	put16(f, 0);
	put32(f, (uint32_t)flags << 24);
	put32(f, 5001u << 8);
	put_frame(f, inner);
	end_ipv4(f, ip);
	assert_int_equal(f->len - udp, 16 + inner->len);
}

/* GRE: @p flags are the first 16 bits; each option word is written. */
static void
build_gre(struct frame *f, const struct frame *inner, uint16_t flags,
	  uint16_t proto, uint32_t erspan_word)
{
	uint32_t ip = (put_eth(f, 0, 0x0800), put_ipv4(f, IPPROTO_GRE, 0));

	put16(f, flags);
	put16(f, proto);
	if (flags & 0x8000)
		put32(f, 0);		/* checksum, reserved */
	if (flags & 0x2000)
		put32(f, 42);		/* key */
	if (flags & 0x1000)
		put32(f, 7);		/* sequence */
	if (proto == 0x88be) {
		put32(f, erspan_word);
		put32(f, 0);
	}
	put_frame(f, inner);
	end_ipv4(f, ip);
}

#define ERSPAN_II(session) (1u << 28 | (session))

/* st_decap() on a heap copy of the first @p caplen bytes. */
static enum st_decap_result
decap_n(const struct frame *f, uint32_t caplen, uint32_t wirelen,
	enum st_decap_mode mode, struct st_tcp_segment *seg)
{
	uint8_t *copy = malloc(caplen > 0 ? caplen : 1);
	enum st_decap_result r;
	struct st_tcp_segment tmp;
	ptrdiff_t off;

	assert_non_null(copy);
	memcpy(copy, f->b, caplen);
	r = st_decap(copy, caplen, wirelen, mode, &tmp);
	if (r == ST_DECAP_OK) {
		/* Point into the caller's frame, as the copy goes away. */
		off = tmp.payload - copy;
		assert_true(off >= 0 && off + tmp.payload_len <= caplen);
		tmp.payload = f->b + off;
	}
	if (seg != NULL)
		*seg = tmp;
	free(copy);
	return r;
}

static enum st_decap_result
decap(const struct frame *f, enum st_decap_mode mode,
      struct st_tcp_segment *seg)
{
	return decap_n(f, f->len, f->len, mode, seg);
}

/* The segment put_tcp() wrote, from @p family's test addresses. */
static void
assert_segment(const struct st_tcp_segment *seg, int family)
{
	static const uint8_t v4[4] = { 192, 0, 2, 1 };
	static const uint8_t zero[12];

	assert_int_equal(seg->src.family, family);
	assert_int_equal(seg->dst.family, family);
	if (family == AF_INET) {
		assert_memory_equal(seg->src.addr, v4, 4);
		assert_int_equal(seg->dst.addr[3], 2);
		assert_memory_equal(seg->src.addr + 4, zero, 12);
	} else {
		assert_int_equal(seg->src.addr[0], 0x20);
		assert_int_equal(seg->src.addr[15], 1);
		assert_int_equal(seg->dst.addr[15], 2);
	}
	assert_int_equal(seg->src.port, 1234);
	assert_int_equal(seg->dst.port, 80);
	assert_int_equal(seg->seq, 1000);
	assert_int_equal(seg->ack, 2000);
	assert_int_equal(seg->flags, 0x18);
	assert_int_equal(seg->payload_len, strlen(PAYLOAD));
	assert_memory_equal(seg->payload, PAYLOAD, strlen(PAYLOAD));
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(st_decap_mode_name(ST_DECAP_AUTO), "auto");
	assert_string_equal(st_decap_mode_name(ST_DECAP_ERSPAN), "erspan");
	assert_null(st_decap_mode_name(ST_DECAP_MODES));
	assert_string_equal(st_decap_result_name(ST_DECAP_TRUNCATED),
			    "truncated");
	assert_string_equal(st_decap_result_name(ST_DECAP_OTHER_ENCAP),
			    "other_encap");
	assert_null(st_decap_result_name(ST_DECAP_RESULTS));
}

/* Plain frames, tagged or not, IPv4 or IPv6, in every mode that takes
 * them. */
static void
test_plain(void **state)
{
	static const enum st_decap_mode ok_modes[] = { ST_DECAP_AUTO,
						       ST_DECAP_VLAN };
	struct st_tcp_segment seg;
	int tags, fam;
	unsigned int m;

	(void)state;
	for (fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;

		for (tags = 0; tags <= 2; tags++) {
			struct frame f = { .len = 0 };

			build_inner(&f, tags, family);
			for (m = 0; m < 2; m++) {
				memset(&seg, 0xff, sizeof(seg));
				assert_int_equal(decap(&f, ok_modes[m], &seg),
						 ST_DECAP_OK);
				assert_segment(&seg, family);
			}
			assert_int_equal(decap(&f, ST_DECAP_NONE, &seg),
					 tags ? ST_DECAP_OTHER_ENCAP :
						ST_DECAP_OK);
		}
	}
}

/* A third tag is not IP; non-IP and non-TCP are told apart. */
static void
test_not_ip_not_tcp(void **state)
{
	struct frame f = { .len = 0 };
	uint32_t ip;

	(void)state;
	put_eth(&f, 2, 0x8100);
	put16(&f, 300);
	put16(&f, 0x0800);
	ip = put_ipv4(&f, IPPROTO_TCP, 0);
	put_tcp(&f, 0, PAYLOAD);
	end_ipv4(&f, ip);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_NOT_IP);

	f.len = 0;
	put_eth(&f, 0, 0x0806);	/* ARP */
	put32(&f, 0x00010800);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_NOT_IP);
	assert_int_equal(decap(&f, ST_DECAP_VXLAN, NULL), ST_DECAP_NOT_IP);

	f.len = 0;
	put_eth(&f, 0, 0x0800);
	ip = put_ipv4(&f, IPPROTO_ICMP, 0);
	put32(&f, 0x08000000);
	end_ipv4(&f, ip);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_NOT_TCP);

	f.len = 0;
	put_eth(&f, 0, 0x86dd);
	ip = put_ipv6(&f, NULL, 0, IPPROTO_UDP);
	put32(&f, 0x00350035);
	put32(&f, 0x00080000);
	end_ipv6(&f, ip);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_NOT_TCP);
}

/* IPv4 options and TCP options are skipped; padding is not payload. */
static void
test_options_and_padding(void **state)
{
	struct frame f = { .len = 0 };
	struct st_tcp_segment seg;
	uint32_t ip;

	(void)state;
	put_eth(&f, 0, 0x0800);
	ip = put_ipv4(&f, IPPROTO_TCP, 3);
	put_tcp(&f, 3, PAYLOAD);
	end_ipv4(&f, ip);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, &seg), ST_DECAP_OK);
	assert_segment(&seg, AF_INET);

	/* A pure ACK padded to Ethernet's 60 bytes. */
	f.len = 0;
	put_eth(&f, 0, 0x0800);
	ip = put_ipv4(&f, IPPROTO_TCP, 0);
	put_tcp(&f, 0, "");
	end_ipv4(&f, ip);
	while (f.len < 60)
		put8(&f, 0xee);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, &seg), ST_DECAP_OK);
	assert_int_equal(seg.payload_len, 0);
}

static void
test_ipv6_extensions(void **state)
{
	static const uint8_t ext[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING,
				       IPPROTO_DSTOPTS };
	static const uint8_t frag[] = { IPPROTO_DSTOPTS, IPPROTO_FRAGMENT };
	struct frame f = { .len = 0 };
	struct st_tcp_segment seg;
	uint32_t ip;

	(void)state;
	put_eth(&f, 1, 0x86dd);
	ip = put_ipv6(&f, ext, 3, IPPROTO_TCP);
	put_tcp(&f, 0, PAYLOAD);
	end_ipv6(&f, ip);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, &seg), ST_DECAP_OK);
	assert_segment(&seg, AF_INET6);

	f.len = 0;
	put_eth(&f, 0, 0x86dd);
	ip = put_ipv6(&f, frag, 2, IPPROTO_TCP);
	put_tcp(&f, 0, PAYLOAD);
	end_ipv6(&f, ip);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_FRAGMENT);

	/* An extension header that runs past the payload length. */
	f.len = 0;
	put_eth(&f, 0, 0x86dd);
	ip = put_ipv6(&f, ext, 1, IPPROTO_TCP);
	end_ipv6(&f, ip);
	f.b[ip + 40 + 1] = 1;	/* 16 bytes, 8 present */
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);
}

static void
test_ipv4_fragments(void **state)
{
	static const uint16_t frag_fields[] = { 0x2000, 0x0001, 0x2010 };
	unsigned int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		struct frame f = { .len = 0 };

		build_inner(&f, 0, AF_INET);
		set16(&f, 14 + 6, frag_fields[i]);
		assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL),
				 ST_DECAP_FRAGMENT);
	}
	/* DF alone is not a fragment. */
	{
		struct frame f = { .len = 0 };

		build_inner(&f, 0, AF_INET);
		set16(&f, 14 + 6, 0x4000);
		assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_OK);
	}
}

/* VXLAN around every inner shape, auto and fixed. */
static void
test_vxlan(void **state)
{
	struct st_tcp_segment seg;
	int tags, fam;

	(void)state;
	for (fam = 0; fam < 2; fam++) {
		for (tags = 0; tags <= 2; tags++) {
			struct frame in = { .len = 0 }, f = { .len = 0 };
			int family = fam ? AF_INET6 : AF_INET;

			build_inner(&in, tags, family);
			build_vxlan(&f, &in, 4789, 0x08);
			assert_int_equal(decap(&f, ST_DECAP_AUTO, &seg),
					 ST_DECAP_OK);
			assert_segment(&seg, family);
			assert_int_equal(decap(&f, ST_DECAP_VXLAN, &seg),
					 ST_DECAP_OK);
			assert_segment(&seg, family);
		}
	}
}

/* Another port: VXLAN for the fixed mode only, with the I flag. */
static void
test_vxlan_ports_and_flags(void **state)
{
	struct frame in = { .len = 0 }, f = { .len = 0 };
	struct st_tcp_segment seg;

	(void)state;
	build_inner(&in, 0, AF_INET);
	build_vxlan(&f, &in, 8472, 0x08);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_NOT_TCP);
	assert_int_equal(decap(&f, ST_DECAP_VXLAN, &seg), ST_DECAP_OK);
	assert_segment(&seg, AF_INET);

	f.len = 0;
	build_vxlan(&f, &in, 8472, 0x00);
	assert_int_equal(decap(&f, ST_DECAP_VXLAN, NULL),
			 ST_DECAP_OTHER_ENCAP);

	f.len = 0;
	build_vxlan(&f, &in, 4789, 0x00);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);

	/* Reserved flags are ignored on receipt (RFC 7348). */
	f.len = 0;
	build_vxlan(&f, &in, 4789, 0x88);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_OK);

	/* A UDP length past the IP packet, and one too short for VXLAN. */
	f.len = 0;
	build_vxlan(&f, &in, 4789, 0x08);
	set16(&f, 14 + 20 + 4, (uint16_t)(16 + in.len + 1));
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);
	set16(&f, 14 + 20 + 4, 15);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);
}

static void
test_gre(void **state)
{
	static const uint16_t flags[] = { 0x0000, 0x2000, 0xa000, 0x3000 };
	struct st_tcp_segment seg;
	unsigned int i;
	int tags;

	(void)state;
	for (i = 0; i < 4; i++) {
		for (tags = 0; tags <= 2; tags++) {
			struct frame in = { .len = 0 }, f = { .len = 0 };

			build_inner(&in, tags, tags == 1 ? AF_INET6 : AF_INET);
			build_gre(&f, &in, flags[i], 0x6558, 0);
			assert_int_equal(decap(&f, ST_DECAP_AUTO, &seg),
					 ST_DECAP_OK);
			assert_segment(&seg,
				       tags == 1 ? AF_INET6 : AF_INET);
			assert_int_equal(decap(&f, ST_DECAP_GRE, &seg),
					 ST_DECAP_OK);
		}
	}
}

static void
test_gre_malformed(void **state)
{
	struct frame in = { .len = 0 }, f = { .len = 0 };
	uint32_t ip;

	(void)state;
	build_inner(&in, 0, AF_INET);
	build_gre(&f, &in, 0x0001, 0x6558, 0);	/* version 1: PPTP */
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);
	f.len = 0;
	build_gre(&f, &in, 0x4000, 0x6558, 0);	/* routing present */
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);

	/* Options announced but absent. */
	f.len = 0;
	put_eth(&f, 0, 0x0800);
	ip = put_ipv4(&f, IPPROTO_GRE, 0);
	put16(&f, 0xb000);
	put16(&f, 0x6558);
	end_ipv4(&f, ip);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);

	/* GRE around IP, not Ethernet: not ours, not TCP. */
	f.len = 0;
	build_gre(&f, &in, 0, 0x0800, 0);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_NOT_TCP);
}

static void
test_erspan(void **state)
{
	struct st_tcp_segment seg;
	int tags;

	(void)state;
	for (tags = 0; tags <= 2; tags++) {
		struct frame in = { .len = 0 }, f = { .len = 0 };
		/* As encap.c: VLAN, COS and En set for a tagged frame. */
		uint32_t word = ERSPAN_II(77) |
				(tags ? (100u << 16 | 3u << 11) : 0);

		build_inner(&in, tags, AF_INET);
		build_gre(&f, &in, 0x1000, 0x88be, word);
		assert_int_equal(decap(&f, ST_DECAP_AUTO, &seg), ST_DECAP_OK);
		assert_segment(&seg, AF_INET);
		assert_int_equal(decap(&f, ST_DECAP_ERSPAN, &seg),
				 ST_DECAP_OK);
		assert_segment(&seg, AF_INET);
	}
}

static void
test_erspan_refusals(void **state)
{
	struct frame in = { .len = 0 }, f = { .len = 0 };

	(void)state;
	build_inner(&in, 0, AF_INET);
	build_gre(&f, &in, 0x1000, 0x88be, ERSPAN_II(1) | 1u << 10);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_TRUNCATED);
	assert_int_equal(decap(&f, ST_DECAP_ERSPAN, NULL),
			 ST_DECAP_TRUNCATED);

	f.len = 0;	/* type I: no sequence number */
	build_gre(&f, &in, 0x0000, 0x88be, ERSPAN_II(1));
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);

	f.len = 0;	/* version 2 is type III's */
	build_gre(&f, &in, 0x1000, 0x88be, 2u << 28);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);
}

/* A fixed mode refuses the other encapsulations. */
static void
test_fixed_modes(void **state)
{
	struct frame in = { .len = 0 };
	struct frame vx = { .len = 0 }, gre = { .len = 0 },
		     ers = { .len = 0 };

	(void)state;
	build_inner(&in, 0, AF_INET);
	build_vxlan(&vx, &in, 4789, 0x08);
	build_gre(&gre, &in, 0x2000, 0x6558, 0);
	build_gre(&ers, &in, 0x1000, 0x88be, ERSPAN_II(1));

	assert_int_equal(decap(&in, ST_DECAP_VXLAN, NULL),
			 ST_DECAP_OTHER_ENCAP);
	assert_int_equal(decap(&in, ST_DECAP_GRE, NULL), ST_DECAP_OTHER_ENCAP);
	assert_int_equal(decap(&gre, ST_DECAP_VXLAN, NULL),
			 ST_DECAP_OTHER_ENCAP);
	assert_int_equal(decap(&ers, ST_DECAP_GRE, NULL),
			 ST_DECAP_OTHER_ENCAP);
	assert_int_equal(decap(&gre, ST_DECAP_ERSPAN, NULL),
			 ST_DECAP_OTHER_ENCAP);
	assert_int_equal(decap(&vx, ST_DECAP_ERSPAN, NULL),
			 ST_DECAP_OTHER_ENCAP);
	/* Without a tunnel mode a tunnel is just IP that is not TCP. */
	assert_int_equal(decap(&vx, ST_DECAP_NONE, NULL), ST_DECAP_NOT_TCP);
	assert_int_equal(decap(&gre, ST_DECAP_VLAN, NULL), ST_DECAP_NOT_TCP);
	assert_int_equal(decap(&in, ST_DECAP_MODES, NULL),
			 ST_DECAP_OTHER_ENCAP);
}

/* Cut short on the wire or in the capture. */
static void
test_truncated(void **state)
{
	struct frame in = { .len = 0 }, f = { .len = 0 };
	struct frame cut = { .len = 0 };
	uint32_t ip, udp;

	(void)state;
	build_inner(&in, 0, AF_INET);
	assert_int_equal(decap_n(&in, in.len - 1, in.len, ST_DECAP_AUTO,
				 NULL),
			 ST_DECAP_TRUNCATED);
	/* All captured, but the IP length claims more. */
	assert_int_equal(decap_n(&in, in.len - 1, in.len - 1, ST_DECAP_AUTO,
				 NULL),
			 ST_DECAP_TRUNCATED);

	f.len = 0;
	build_inner(&f, 0, AF_INET6);
	assert_int_equal(decap_n(&f, f.len - 3, f.len - 3, ST_DECAP_AUTO,
				 NULL),
			 ST_DECAP_TRUNCATED);

	/* tx_shadow's truncation: the inner frame cut, the outer headers
	 * written for what is left. */
	memcpy(cut.b, in.b, 40);
	cut.len = 40;
	f.len = 0;
	build_vxlan(&f, &cut, 4789, 0x08);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_TRUNCATED);
	f.len = 0;
	build_gre(&f, &cut, 0x2000, 0x6558, 0);
	assert_int_equal(decap(&f, ST_DECAP_GRE, NULL), ST_DECAP_TRUNCATED);

	/* The outer IP length beyond the frame. */
	f.len = 0;
	put_eth(&f, 0, 0x0800);
	ip = put_ipv4(&f, IPPROTO_UDP, 0);
	udp = f.len;
	put16(&f, 1);
	put16(&f, 4789);
	put16(&f, 16);
	put16(&f, 0);
	put32(&f, 0x08000000);
	put32(&f, 0);
	end_ipv4(&f, ip);
	set16(&f, ip + 2, (uint16_t)(f.len - ip + 1));
	assert_int_equal(f.len - udp, 16);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_TRUNCATED);
}

static void
test_malformed(void **state)
{
	struct frame f = { .len = 0 };
	uint32_t n;

	(void)state;
	build_inner(&f, 2, AF_INET);
	f.b[22] = 0x44;	/* IHL 4 */
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);
	f.b[22] = 0x4f;	/* IHL 15: past the total length */
	set16(&f, 24, 40);
	f.len = 22 + 40;
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);
	f.b[22] = 0x65;	/* IPv6 behind an IPv4 EtherType */
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);

	f.len = 0;
	build_inner(&f, 0, AF_INET);
	f.b[14 + 20 + 12] = 0x40;	/* TCP data offset 4 */
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);
	f.b[14 + 20 + 12] = 0xf0;	/* 60 bytes: past the packet */
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);

	/* IP says 20 bytes, then a TCP header cannot fit. */
	f.len = 0;
	build_inner(&f, 0, AF_INET);
	set16(&f, 16, 30);
	assert_int_equal(decap(&f, ST_DECAP_AUTO, NULL), ST_DECAP_MALFORMED);

	/* Every prefix of a good VXLAN frame, seen as a whole frame: never
	 * OK, never an over-read. Short headers are malformed, lengths
	 * beyond the bytes truncated. */
	{
		struct frame in = { .len = 0 };

		f.len = 0;
		build_inner(&in, 1, AF_INET6);
		build_vxlan(&f, &in, 4789, 0x08);
	}
	for (n = 0; n < f.len; n++) {
		enum st_decap_result r = decap_n(&f, n, n, ST_DECAP_AUTO,
						 NULL);

		assert_true(r == ST_DECAP_MALFORMED ||
			    r == ST_DECAP_TRUNCATED);
		if (n < 14 + 20)
			assert_int_equal(r, ST_DECAP_MALFORMED);
	}
	assert_int_equal(decap_n(&f, f.len, f.len, ST_DECAP_AUTO, NULL),
			 ST_DECAP_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_not_ip_not_tcp),
		cmocka_unit_test(test_options_and_padding),
		cmocka_unit_test(test_ipv6_extensions),
		cmocka_unit_test(test_ipv4_fragments),
		cmocka_unit_test(test_vxlan),
		cmocka_unit_test(test_vxlan_ports_and_flags),
		cmocka_unit_test(test_gre),
		cmocka_unit_test(test_gre_malformed),
		cmocka_unit_test(test_erspan),
		cmocka_unit_test(test_erspan_refusals),
		cmocka_unit_test(test_fixed_modes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
