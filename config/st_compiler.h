/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef ST_COMPILER_H
#define ST_COMPILER_H

/*
 * The few compiler helpers the code shared by the appliance and the
 * replay uses, so that it needs no DPDK header for them (the replay links
 * no DPDK). They mean what DPDK's likely(), RTE_DIM() and RTE_STR() mean;
 * the guards let a file include both.
 */

#ifndef likely
/* Branch hints, for branches whose bias is known. */
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* Number of elements of an array (not of a pointer). */
#define ST_DIM(a) (sizeof(a) / sizeof((a)[0]))

/* A macro's value as a string literal: ST_STR(ST_NAME_MAX) is "32". */
#define ST_STR_(x) #x
#define ST_STR(x)  ST_STR_(x)

#endif
