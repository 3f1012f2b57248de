/* txcopy_bench.c - gateway TX: the app's payload copied into an mbuf vs attached as extbuf. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#include "../../stack/cksum.h" /* the gateway's own checksum, header-only */

/*
 * Not a test: a measurement, to choose port.tx_zero_copy_min. One lcore builds N UDP frames, in
 * bursts of 32, from payloads in a 4 MiB "TX area" (an anonymous mapping cut into 2048 buffers of
 * 2048 bytes, standing in for the app's memfd), then frees them as a PMD does after transmit:
 *
 *   copy       one mbuf: 42 header bytes from a template, rte_memcpy of the payload behind them
 *   zero-copy  a header mbuf (42 bytes) chained to a second mbuf attached to the payload in the TX
 *              area (rte_pktmbuf_attach_extbuf, one gateway-private shinfo per TX buffer); the
 *              free callback posts the completion. Two ways to get the second mbuf:
 *                zc       both mbufs from the one pool (2176-byte data room)
 *                zc/ext   the attached one from a pool with no data room, as gateway/port.c does
 *                         (ext_pool): 128-byte mbufs instead of 2304, fewer pages touched
 *
 * Both modes return the TX buffer to the app with one 32-byte completion descriptor written into
 * a ring array plus a counter bump: right after the copy (as gateway/chan_fp.c does), or from the
 * free callback. Each mode runs in four variants:
 *
 *   (plain)    the NIC DMA-reads the frame: the CPU never touches the payload after building it
 *   +pmd copy  the PMD copies every segment out (net_af_packet memcpy's into its kernel ring):
 *              modelled by an rte_memcpy of the whole frame into a 2048-byte scratch buffer
 *   +cksum     software UDP checksum over header and payload with stk_cksum_add(), as
 *              stk_udp_build() does today (no L4 offload): over the mbuf's copy, or over the TX
 *              area for zero-copy
 *
 * Payloads cycle through all 2048 TX buffers, so the 4 MiB area does not stay in L1/L2. Runs are
 * interleaved across variants; each cell is min/median/max ns per packet over 5 runs.
 *
 *   tests/perf/txcopy_bench [N] [CPU]         (EAL arguments are built in)
 */

#define HDRS       42 /* Ethernet 14 + IPv4 20 + UDP 8 */
#define BURST      32
#define AREA_SIZE  (4u << 20)
#define BUF_SIZE   2048u
#define NBUFS      (AREA_SIZE / BUF_SIZE)
#define POOL_SIZE  8191
#define POOL_CACHE 256
#define RUNS       5
#define COMP_SLOTS 1024 /* power of two */

static const uint16_t sizes[] = {64, 128, 256, 512, 1024, 1472};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* The completion the app reads back: same shape as struct bp_desc. */
struct comp_desc {
	uint32_t buf;
	uint16_t off;
	uint16_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t sock;
	uint32_t addr_be;
	uint16_t port_be;
	uint16_t status;
	uint64_t user;
};
_Static_assert(sizeof(struct comp_desc) == 32, "completion descriptor is 32 bytes");

struct bench {
	struct rte_mempool *pool;
	struct rte_mempool *ext_pool; /* no data room: for attached mbufs only */
	uint8_t *area;
	bool iova_va;
	uint16_t len; /* payload size of the current run */
	uint64_t n_comp;
	uint64_t sink;
	struct comp_desc comp[COMP_SLOTS];
	uint8_t hdr[HDRS];
	uint8_t scratch[BUF_SIZE] __rte_cache_aligned;
	/* gateway-private, never in the app's memory: the app could rewrite a refcount or callback
	 */
	struct rte_mbuf_ext_shared_info shinfo[NBUFS];
};

static struct bench B;

/* The app's buffer goes back: one descriptor into the completion ring, one counter bump. */
static inline void
complete(struct bench *b, uint32_t buf, uint16_t len)
{
	struct comp_desc *d = &b->comp[b->n_comp & (COMP_SLOTS - 1)];

	*d = (struct comp_desc){.buf = buf, .len = len, .type = 2, .user = b->n_comp};
	b->n_comp++;
}

/* Zero-copy free callback: the port let go of TX buffer `addr`. */
static void
zc_done(void *addr, void *opaque)
{
	struct bench *b = opaque;

	complete(b, (uint32_t)(((uint8_t *)addr - b->area) / BUF_SIZE), b->len);
}

/* What net_af_packet does per frame: every segment copied into the frame slot of its ring. */
static inline void
pmd_copy_out(struct bench *b, struct rte_mbuf **m, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		const struct rte_mbuf *s;
		uint32_t off = 0;

		for (s = m[i]; s; s = s->next) {
			rte_memcpy(b->scratch + off, rte_pktmbuf_mtod(s, const void *),
			           s->data_len);
			off += s->data_len;
		}
		b->sink += b->scratch[off - 1];
	}
}

/* UDP checksum as stk_udp_build() sums it: in one go when the payload follows the header, else
 * the UDP header then the payload where it is. (Pseudo-header left out: a constant here.) */
static inline void
udp_cksum(uint8_t *hdr, const uint8_t *payload, uint16_t len)
{
	uint64_t sum;
	uint16_t c = 0;

	memcpy(hdr + 40, &c, 2);
	if (payload == hdr + HDRS) {
		sum = stk_cksum_add(0, hdr + 34, 8u + len);
	} else {
		sum = stk_cksum_add(0, hdr + 34, 8);
		sum = stk_cksum_add(sum, payload, len);
	}
	c = (uint16_t)~stk_cksum_fold(sum);
	memcpy(hdr + 40, &c, 2);
}

static inline __rte_always_inline uint64_t
run_copy(struct bench *b, uint64_t n, const bool pmd_copy, const bool cksum)
{
	struct rte_mbuf *m[BURST];
	uint16_t len = b->len;
	uint64_t sent, t0;
	unsigned i;

	t0 = rte_rdtsc();
	for (sent = 0; sent < n; sent += BURST) {
		if (unlikely(rte_pktmbuf_alloc_bulk(b->pool, m, BURST) != 0))
			return 0;
		for (i = 0; i < BURST; i++) {
			uint32_t bi = (uint32_t)((sent + i) & (NBUFS - 1));
			uint8_t *p = rte_pktmbuf_mtod(m[i], uint8_t *);

			memcpy(p, b->hdr, HDRS);
			rte_memcpy(p + HDRS, b->area + (size_t)bi * BUF_SIZE, len);
			m[i]->data_len = (uint16_t)(HDRS + len);
			m[i]->pkt_len = HDRS + len;
			if (cksum)
				udp_cksum(p, p + HDRS, len);
			complete(b, bi, len);
		}
		if (pmd_copy)
			pmd_copy_out(b, m, BURST);
		rte_pktmbuf_free_bulk(m, BURST);
	}
	return rte_rdtsc() - t0;
}

static inline __rte_always_inline uint64_t
run_zc(struct bench *b, uint64_t n, const bool ext_pool, const bool pmd_copy, const bool cksum)
{
	struct rte_mbuf *m[2 * BURST];
	uint16_t len = b->len;
	uint64_t sent, t0;
	unsigned i;

	t0 = rte_rdtsc();
	for (sent = 0; sent < n; sent += BURST) {
		if (ext_pool) {
			if (unlikely(rte_pktmbuf_alloc_bulk(b->pool, m, BURST) != 0))
				return 0;
			if (unlikely(rte_pktmbuf_alloc_bulk(b->ext_pool, m + BURST, BURST) != 0)) {
				rte_pktmbuf_free_bulk(m, BURST);
				return 0;
			}
		} else if (unlikely(rte_pktmbuf_alloc_bulk(b->pool, m, 2 * BURST) != 0)) {
			return 0;
		}
		for (i = 0; i < BURST; i++) {
			uint32_t bi = (uint32_t)((sent + i) & (NBUFS - 1));
			uint8_t *buf = b->area + (size_t)bi * BUF_SIZE;
			struct rte_mbuf_ext_shared_info *sh = &b->shinfo[bi];
			struct rte_mbuf *h = m[i], *e = m[BURST + i];
			uint8_t *p = rte_pktmbuf_mtod(h, uint8_t *);

			memcpy(p, b->hdr, HDRS);
			h->data_len = HDRS;
			h->pkt_len = HDRS;
			sh->free_cb = zc_done;
			sh->fcb_opaque = b;
			rte_mbuf_ext_refcnt_set(sh, 1);
			rte_pktmbuf_attach_extbuf(
			        e, buf, b->iova_va ? (rte_iova_t)(uintptr_t)buf : RTE_BAD_IOVA,
			        BUF_SIZE, sh);
			e->data_off = 0;
			e->data_len = len;
			e->pkt_len = len;
			if (unlikely(rte_pktmbuf_chain(h, e) != 0))
				return 0;
			if (cksum)
				udp_cksum(p, buf, len);
		}
		if (pmd_copy)
			pmd_copy_out(b, m, BURST);
		rte_pktmbuf_free_bulk(m, BURST); /* frees both segments; the callback completes */
	}
	return rte_rdtsc() - t0;
}

/* The hot loops specialised on constant flags. */
/* clang-format off */
typedef uint64_t run_fn(struct bench *b, uint64_t n);

#define foreach_variant                                   \
	_(copy_dma, run_copy(b, n, false, false))         \
	_(zc_dma, run_zc(b, n, false, false, false))      \
	_(zcx_dma, run_zc(b, n, true, false, false))      \
	_(copy_pmd, run_copy(b, n, true, false))          \
	_(zc_pmd, run_zc(b, n, false, true, false))       \
	_(zcx_pmd, run_zc(b, n, true, true, false))       \
	_(copy_dma_ck, run_copy(b, n, false, true))       \
	_(zc_dma_ck, run_zc(b, n, false, false, true))    \
	_(zcx_dma_ck, run_zc(b, n, true, false, true))    \
	_(copy_pmd_ck, run_copy(b, n, true, true))        \
	_(zc_pmd_ck, run_zc(b, n, false, true, true))     \
	_(zcx_pmd_ck, run_zc(b, n, true, true, true))

#define _(name, call)                      \
	static uint64_t                    \
	name(struct bench *b, uint64_t n)  \
	{                                  \
		return call;               \
	}
foreach_variant
#undef _

/* Per scenario: [0] copy, [1] zero-copy from one pool, [2] zero-copy from the ext pool. */
#define KINDS 3
static run_fn *const variants[] = {
#define _(name, call) name,
	foreach_variant
#undef _
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))
#define NSCEN     (NVARIANTS / KINDS)

static const char *const scenarios[NSCEN] = {
	"NIC DMA-reads the frame (no PMD copy)",
	"PMD copies the frame out (net_af_packet)",
	"NIC DMA + software UDP checksum (stk_udp_build today)",
	"net_af_packet + software UDP checksum (the gateway today)",
};
/* clang-format on */

/* Build BURST frames every way at `len` and copy them out as the PMD would: the last frame (from
 * TX buffer BURST-1) must be the template header and the payload, with a UDP checksum that
 * verifies, the same bytes whichever way it was built; and every TX buffer must come back. */
static int
self_check(struct bench *b, uint16_t len)
{
	uint8_t want[BUF_SIZE];
	unsigned v;

	b->len = len;
	memcpy(want, b->hdr, HDRS);
	memcpy(want + HDRS, b->area + (size_t)(BURST - 1) * BUF_SIZE, len);
	for (v = 0; v < NVARIANTS; v++) {
		uint64_t c0 = b->n_comp;
		bool pmd = v / KINDS == 1 || v / KINDS == 3, ck = v / KINDS >= 2;

		if (!pmd)
			continue;
		memset(b->scratch, 0, sizeof(b->scratch));
		if (!variants[v](b, BURST) || b->n_comp - c0 != BURST)
			return -1;
		if (ck) {
			if (!stk_cksum_ok(stk_cksum_add(0, b->scratch + 34, 8u + len)))
				return -1;
			memcpy(want + 40, b->scratch + 40, 2);
		} else {
			memcpy(want + 40, b->hdr + 40, 2);
		}
		if (memcmp(b->scratch, want, HDRS + len) != 0)
			return -1;
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
cpu_model(char *out, size_t sz)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(out, sz, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && c) {
			snprintf(out, sz, "%s", c + 2);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
}

/* Where (zc - copy) changes sign for good, interpolated linearly between the two sizes. */
static void
crossover(char *out, size_t sz, const double *copy, const double *zc)
{
	unsigned s;
	double d0, d1;

	for (s = NSIZES; s > 0 && zc[s - 1] < copy[s - 1]; s--)
		;
	if (s == NSIZES) {
		snprintf(out, sz, "none (copy wins up to %u)", sizes[NSIZES - 1]);
		return;
	}
	if (s == 0) {
		snprintf(out, sz, "below %u (zero-copy wins everywhere)", sizes[0]);
		return;
	}
	d0 = zc[s - 1] - copy[s - 1];
	d1 = zc[s] - copy[s];
	snprintf(out, sz, "~%.0f bytes (zero-copy wins from %u)",
	         sizes[s - 1] + (sizes[s] - sizes[s - 1]) * d0 / (d0 - d1), sizes[s]);
}

int
main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 2000000;
	const char *cpu = argc > 2 ? argv[2] : "0";
	char *eal[] = {"txcopy_bench",
	               "--no-huge",
	               "--no-pci",
	               "--no-shconf",
	               "-m",
	               "256",
	               "--no-telemetry",
	               "-l",
	               (char *)(uintptr_t)cpu,
	               "--log-level=lib.*:warning"};
	static uint64_t cyc[NSIZES][NVARIANTS][RUNS];
	static double med[NVARIANTS][NSIZES];
	struct bench *b = &B;
	char model[128];
	double hz, ns;
	unsigned s, v, r, k, i;

	n = (n + BURST - 1) / BURST * BURST;
	if (n == 0 || rte_eal_init((int)RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "txcopy_bench: usage: txcopy_bench [N] [CPU]; EAL init: %s\n",
		        rte_strerror(rte_errno));
		return 1;
	}
	b->iova_va = rte_eal_iova_mode() == RTE_IOVA_VA;
	b->pool = rte_pktmbuf_pool_create("txb", POOL_SIZE, POOL_CACHE, 0,
	                                  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	b->ext_pool = rte_pktmbuf_pool_create("txb_ext", POOL_SIZE, POOL_CACHE, 0, 0,
	                                      (int)rte_socket_id());
	b->area = mmap(NULL, AREA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!b->pool || !b->ext_pool || b->area == MAP_FAILED) {
		fprintf(stderr, "txcopy_bench: setup failed: %s\n",
		        b->area == MAP_FAILED ? "mmap" : rte_strerror(rte_errno));
		return 1;
	}
	for (i = 0; i < AREA_SIZE; i++) /* fault the area in, with a pattern the check can see */
		b->area[i] = (uint8_t)(i * 7 + i / BUF_SIZE);
	for (i = 0; i < HDRS; i++) /* any header will do; the UDP checksum field starts at zero */
		b->hdr[i] = i == 40 || i == 41 ? 0 : (uint8_t)(0xa0 + i);
	for (s = 0; s < NSIZES; s++) {
		if (self_check(b, sizes[s]) != 0) {
			fprintf(stderr, "txcopy_bench: self-check failed at %u bytes\n", sizes[s]);
			return 1;
		}
	}

	hz = (double)rte_get_tsc_hz();
	ns = 1e9 / hz / (double)n;
	cpu_model(model, sizeof(model));
	printf("txcopy_bench: %s, lcore %s, TSC %.0f MHz, IOVA as %s, N=%" PRIu64 " per run, "
	       "burst %d, %d runs\n",
	       model, cpu, hz / 1e6, b->iova_va ? "VA" : "PA", n, BURST, RUNS);

	b->len = sizes[0]; /* warm-up: caches, TLB, branch predictors, CPU clock */
	for (v = 0; v < NVARIANTS; v++)
		variants[v](b, n);
	for (s = 0; s < NSIZES; s++) {
		b->len = sizes[s];
		for (v = 0; v < NVARIANTS; v++)
			variants[v](b, n / 10 / BURST * BURST + BURST);
		for (r = 0; r < RUNS; r++) {
			for (k = 0; k < NVARIANTS;
			     k++) { /* rotate the order: noise hits all alike */
				uint64_t c0 = b->n_comp;

				v = (k + r) % NVARIANTS;
				cyc[s][v][r] = variants[v](b, n);
				if (!cyc[s][v][r] || b->n_comp - c0 != n) {
					fprintf(stderr,
					        "txcopy_bench: variant %u at %u bytes: out of "
					        "mbufs or completions lost\n",
					        v, sizes[s]);
					return 1;
				}
			}
		}
	}

	for (k = 0; k < NSCEN; k++) {
		char cross[2][64];

		printf("\n%s\n", scenarios[k]);
		printf("%7s  %-21s  %-21s  %-21s  %6s  %6s\n", "payload", "copy", "zc", "zc/ext",
		       "zc/", "zc/ext");
		printf("%7s  %-21s  %-21s  %-21s  %6s  %6s\n", "bytes", "ns/pkt min/med/max",
		       "ns/pkt min/med/max", "ns/pkt min/med/max", "copy", "/copy");
		for (s = 0; s < NSIZES; s++) {
			printf("%7u", sizes[s]);
			for (i = 0; i < KINDS; i++) {
				uint64_t *c = cyc[s][KINDS * k + i];

				qsort(c, RUNS, sizeof(*c), cmp_u64);
				med[KINDS * k + i][s] = (double)c[RUNS / 2] * ns;
				printf("  %5.1f / %5.1f / %5.1f", (double)c[0] * ns,
				       (double)c[RUNS / 2] * ns, (double)c[RUNS - 1] * ns);
			}
			printf("  %6.2f  %6.2f\n", med[KINDS * k + 1][s] / med[KINDS * k][s],
			       med[KINDS * k + 2][s] / med[KINDS * k][s]);
		}
		crossover(cross[0], sizeof(cross[0]), med[KINDS * k], med[KINDS * k + 1]);
		crossover(cross[1], sizeof(cross[1]), med[KINDS * k], med[KINDS * k + 2]);
		printf("crossover (medians): zc %s; zc/ext %s\n", cross[0], cross[1]);
	}
	printf("\n(sink %" PRIu64 ")\n", b->sink);
	rte_mempool_free(b->ext_pool);
	rte_mempool_free(b->pool);
	munmap(b->area, AREA_SIZE);
	rte_eal_cleanup();
	return 0;
}
