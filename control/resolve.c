/* SPDX-License-Identifier: BSD-3-Clause */
#include "resolve.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_ethdev.h>

#include "classifier.h"

/* The loader refuses port ids from ST_MAX_PORT_IDS on without knowing
 * DPDK; they must be the ids this DPDK can have. */
_Static_assert(ST_MAX_PORT_IDS == RTE_MAX_ETHPORTS,
	       "ST_MAX_PORT_IDS must be DPDK's RTE_MAX_ETHPORTS");

#define MAX_REFS (2 + ST_MAX_MIRRORS)
#define HEX_DIGITS "0123456789abcdefABCDEF"

/* A config's port references, in the order errors name them, and what
 * each is called there. */
struct port_refs {
	unsigned int n;
	struct st_port_ref *ref[MAX_REFS];
	char what[MAX_REFS][ST_NAME_MAX + 16];
};

static void
list_refs(struct st_config *cfg, struct port_refs *r)
{
	unsigned int i;

	r->n = 0;
	r->ref[r->n] = &cfg->client;
	snprintf(r->what[r->n++], sizeof(r->what[0]), "ports.client");
	r->ref[r->n] = &cfg->server;
	snprintf(r->what[r->n++], sizeof(r->what[0]), "ports.server");
	for (i = 0; i < cfg->nb_mirrors; i++) {
		r->ref[r->n] = &cfg->mirrors[i].port;
		snprintf(r->what[r->n++], sizeof(r->what[0]), "mirror '%s'",
			 cfg->mirrors[i].name);
	}
}

/* "FILE:LINE: WHAT: ..." about reference @p idx; returns @p ret. */
static int __rte_format_printf(7, 8)
fail(const struct st_config *cfg, const struct port_refs *r,
     unsigned int idx, int ret, char *err, size_t errlen, const char *fmt,
     ...)
{
	va_list ap;
	size_t len;

	snprintf(err, errlen, "%s:%d: %s: ", cfg->path, r->ref[idx]->line,
		 r->what[idx]);
	len = strlen(err);
	va_start(ap, fmt);
	vsnprintf(err + len, errlen - len, fmt, ap);
	va_end(ap);
	return ret;
}

/*
 * EAL names the port of a PCI device by its address in full and in lower
 * case ("0000:3b:00.0"), whatever form -a had, and a PMD that makes
 * several ports of one device adds to that name: a name that starts with
 * the address in another form ("3b:00.0", "0000:3B:00.0") can never
 * resolve. Whether @p name starts with a PCI address; if so, its EAL form
 * is written to @p canon.
 */
static bool
pci_name(const char *name, char *canon, size_t len)
{
	unsigned long field[3];	/* [domain:]bus:device */
	const char *s = name;
	unsigned int n = 0;
	size_t digits;

	for (;;) {
		digits = strspn(s, HEX_DIGITS);
		if (digits == 0 || digits > 8 || n == RTE_DIM(field))
			return false;
		field[n++] = strtoul(s, NULL, 16);
		s += digits;
		if (*s == '.')
			break;
		if (*s++ != ':')
			return false;
	}
	if (n < 2 || field[n - 2] > 0xff || field[n - 1] > 0x1f ||
	    s[1] < '0' || s[1] > '7' || isalnum((unsigned char)s[2]))
		return false;
	snprintf(canon, len, "%04lx:%02lx:%02lx.%c%s", n == 3 ? field[0] : 0,
		 field[n - 2], field[n - 1], s[1], s + 2);
	return true;
}

/* Reference @p idx as written, and not written before it. */
static int
check_form(const struct st_config *cfg, const struct port_refs *r,
	   unsigned int idx, char *err, size_t errlen)
{
	const struct st_port_ref *ref = r->ref[idx];
	const char *name = ref->devname;
	char canon[ST_DEVNAME_MAX + 16], written[ST_DEVNAME_MAX + 16];
	unsigned int i;
	const char *c;

	for (c = name; *c != '\0'; c++)
		if (iscntrl((unsigned char)*c))
			return fail(cfg, r, idx, -EINVAL, err, errlen,
				    "a device name has no control character");
	if (strchr(name, ',') != NULL)
		return fail(cfg, r, idx, -EINVAL, err, errlen,
			    "'%s': a device name has no ',' (its arguments "
			    "go to -a or --vdev)", name);
	if (pci_name(name, canon, sizeof(canon)) && strcmp(canon, name) != 0)
		return fail(cfg, r, idx, -EINVAL, err, errlen,
			    "'%s': EAL names this device '%s' (a PCI address "
			    "in full, in lower case)", name, canon);
	/* Before resolving, a name's port_id is 0; after, one name gives one
	 * port: the same name or the same id is a port used twice. */
	for (i = 0; i < idx; i++) {
		if (strcmp(r->ref[i]->devname, name) != 0 ||
		    r->ref[i]->port_id != ref->port_id)
			continue;
		if (name[0] == '\0')
			snprintf(written, sizeof(written), "port %u",
				 ref->port_id);
		else
			snprintf(written, sizeof(written), "'%s'", name);
		return fail(cfg, r, idx, -EINVAL, err, errlen,
			    "%s is already used by %s (line %d)", written,
			    r->what[i], r->ref[i]->line);
	}
	return 0;
}

int
st_config_check_ports(const struct st_config *cfg, char *err, size_t errlen)
{
	struct port_refs r;
	unsigned int i;
	int ret;

	/* The references are only read here. */
	list_refs((struct st_config *)(uintptr_t)cfg, &r);
	for (i = 0; i < r.n; i++) {
		ret = check_form(cfg, &r, i, err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int
st_config_check(const struct st_config *cfg, char *err, size_t errlen)
{
	struct st_classifier *classifier;
	int ret = st_config_check_ports(cfg, err, errlen);

	if (ret == 0)
		ret = st_classifier_create(cfg, &classifier, err, errlen);
	if (ret == 0)
		st_classifier_free(classifier);
	return ret;
}

/* Resolve reference @p idx and refuse a port already taken before it. */
static int
resolve_one(const struct st_config *cfg, const struct port_refs *r,
	    unsigned int idx, char *err, size_t errlen)
{
	struct st_port_ref *ref = r->ref[idx];
	unsigned int i;

	if (ref->devname[0] != '\0' &&
	    rte_eth_dev_get_port_by_name(ref->devname, &ref->port_id) != 0)
		return fail(cfg, r, idx, -ENODEV, err, errlen,
			    "no DPDK port named '%s' (give it with -a or "
			    "--vdev)", ref->devname);
	if (!rte_eth_dev_is_valid_port(ref->port_id))
		return fail(cfg, r, idx, -ENODEV, err, errlen,
			    "port %u does not exist (%u ports found)",
			    ref->port_id, rte_eth_dev_count_avail());
	for (i = 0; i < idx; i++)
		if (r->ref[i]->port_id == ref->port_id)
			return fail(cfg, r, idx, -EINVAL, err, errlen,
				    "port %u is already used by %s (line %d)",
				    ref->port_id, r->what[i], r->ref[i]->line);
	return 0;
}

int
st_config_resolve(struct st_config *cfg, char *err, size_t errlen)
{
	struct port_refs r;
	unsigned int i;
	int ret = st_config_check_ports(cfg, err, errlen);

	if (ret < 0)
		return ret;
	list_refs(cfg, &r);
	for (i = 0; i < r.n; i++) {
		ret = resolve_one(cfg, &r, i, err, errlen);
		if (ret < 0)
			return ret;
	}
	return 0;
}
