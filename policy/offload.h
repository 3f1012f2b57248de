/* offload.h - policy rules as NIC match specs for rte_flow: which rules can run in hardware, why
 * not. */
#ifndef BYPASSD_POLICY_OFFLOAD_H
#define BYPASSD_POLICY_OFFLOAD_H

/*
 * Pure translation, no port and no EAL: the gateway (gateway/flow.c) turns each spec into one
 * rte_flow rule (pol_offload_pattern) and asks the port. Only ingress deny rules can be run by
 * the NIC, and only when dropping in the NIC gives the very verdict software would give
 * (docs/policy.md "Offload"):
 *
 *   - egress rules: the packets come from apps through shared memory, not from the NIC, and the
 *     send must be refused to the app (BP_DESC_ERR_POLICY), which only software can do;
 *   - allow rules: an allowed packet still needs conntrack, meters and delivery;
 *   - rules with signatures: the NIC cannot match the payload;
 *   - rules with log: true: what the NIC drops never reaches the log;
 *   - a tenant's deny rule that an operator `allow` overlaps (the operator tier decides first),
 *     and any deny rule the replies of a `stateful` egress allow may hit (conntrack admits them
 *     before any rule): the NIC would drop what software lets through.
 *
 * A rule that can run there becomes the cross product of its source prefixes, destination
 * prefixes and port blocks: cidrs minus excepts as prefixes, the destinations restricted to the
 * addresses of the rule's tenant (of every tenant for the operator tier: the gateway's own
 * addresses are never judged by the policy), port ranges as power-of-two aligned blocks.
 * Addresses and ports are host byte order.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_flow.h>

#include "policy_model.h"

#define POL_OFFLOAD_MAX_FLOWS 64u /* default bound on the flows one rule may become */

/* One NIC rule: IPv4 with prefix masks, optional protocol, TCP/UDP ports with masks. */
struct pol_flow_spec {
	uint16_t proto;         /* 0..255, or POL_PROTO_ANY */
	uint32_t src, src_mask; /* mask 0 = any source */
	uint32_t dst, dst_mask;
	uint16_t sport, sport_mask; /* tcp/udp only; mask 0 = any port */
	uint16_t dport, dport_mask;
};

struct pol_offload_ctx;

/*
 * What the checks need from the whole policy p (normalised once per build: operator allow
 * rules, stateful egress allows). p must outlive the context. NULL with errno on failure.
 */
struct pol_offload_ctx *pol_offload_ctx_new(const struct pol_policy *p);
void pol_offload_ctx_free(struct pol_offload_ctx *c);

/*
 * Expand rule r of tenant t (NULL: the operator tier) into at most max specs in out. Returns how
 * many (>= 1), or -ENOTSUP (cannot run in the NIC), -E2BIG (needs more than max flows) with the
 * reason in why, or -ENOMEM.
 */
int pol_offload_expand(const struct pol_offload_ctx *c, const struct pol_tenant *t,
                       const struct pol_rule *r, struct pol_flow_spec *out, unsigned max, char *why,
                       size_t why_len);

/* Port range [lo, hi] as power-of-two aligned blocks (value, mask): at most 30 of them.
 * Returns how many; writes at most max (a count above max means they did not all fit). */
unsigned pol_offload_port_blocks(uint16_t lo, uint16_t hi, uint16_t *val, uint16_t *mask,
                                 unsigned max);

/* rte_flow pattern of one spec: the items point into the struct itself (do not copy it). */
struct pol_flow_pattern {
	struct rte_flow_item items[4]; /* ETH, IPV4, [TCP | UDP], END */
	unsigned n_items;              /* including END */
	struct rte_flow_item_ipv4 ip_spec, ip_mask;
	union {
		struct rte_flow_item_tcp tcp;
		struct rte_flow_item_udp udp;
	} l4_spec, l4_mask;
};

/* Fill pat with the rte_flow pattern of s (network byte order inside). */
void pol_offload_pattern(const struct pol_flow_spec *s, struct pol_flow_pattern *pat);

/* "tcp 10.0.0.0/8:any -> 198.18.0.10/32:8000/0xffe0" into buf; returns buf. */
char *pol_flow_spec_str(const struct pol_flow_spec *s, char *buf, size_t len);

#endif
