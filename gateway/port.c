/* port.c - the DPDK port: find it, configure one RX/TX queue pair per worker, RSS, offloads. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "gw.h"

/*
 * Symmetric Toeplitz key (0x6d5a repeated): both directions of a flow hash to the same queue,
 * so a connection is always served by one worker (DESIGN: flows are core-local).
 */
static uint8_t sym_rss_key[52] = {
        0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
        0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
        0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
        0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

/* The port's ethdev name: a vdev's name is its devargs up to the first comma. */
static void
port_name(const struct pol_cfg_port *p, char *out, size_t len)
{
	const char *comma;
	size_t n;

	if (p->is_vdev) {
		comma = strchr(p->device, ',');
		n = comma ? (size_t)(comma - p->device) : strlen(p->device);
		if (n >= len)
			n = len - 1;
		memcpy(out, p->device, n);
		out[n] = '\0';
	} else if (strchr(p->device, ':') == strrchr(p->device, ':')) {
		snprintf(out, len, "0000:%s", p->device); /* BB:DD.F -> DDDD:BB:DD.F */
	} else {
		snprintf(out, len, "%s", p->device);
	}
}

static int
find_port(struct gw *gw)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	uint16_t pid;

	port_name(&gw->cfg->gw.port, name, sizeof(name));
	if (rte_eth_dev_get_port_by_name(name, &pid) == 0) {
		gw->port_id = pid;
		gw->have_port = true;
		return 0;
	}
	/* Some PMDs name ports their own way (e.g. one PCI device, several ports): accept the
	 * only port there is, never guess between several. */
	if (rte_eth_dev_count_avail() == 1) {
		RTE_ETH_FOREACH_DEV(pid)
		{
			gw->port_id = pid;
			gw->have_port = true;
			GW_LOG(WARNING, "port '%s' not found by name; using the only port, %u",
			       name, pid);
			return 0;
		}
	}
	GW_LOG(ERR, "port '%s' not found (%u ports probed); check gateway.port.device and eal_args",
	       name, rte_eth_dev_count_avail());
	return -ENODEV;
}

/*
 * Virtual devices whose TX copies each frame out in software, on the calling thread, inside
 * rte_eth_tx_burst or before the mbuf is freed: the only ones where an mbuf may point into an
 * app's unregistered memory. Not bonding/failsafe (a real NIC DMAs underneath), virtio-user (the
 * backend cannot translate it) or net_ring (freed on the consumer's thread).
 */
static bool
sw_copy_driver(const char *driver)
{
	static const char *const ok[] = {"net_af_packet", "net_tap", "net_pcap", "net_memif", NULL};
	unsigned i;

	for (i = 0; ok[i]; i++)
		if (!strcmp(driver, ok[i]))
			return true;
	return false;
}

int
gw_port_init(struct gw *gw)
{
	const struct pol_cfg_port *pc = &gw->cfg->gw.port;
	enum pol_tcp_csum tcp_csum = gw->cfg->gw.tcp.checksum_offload;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_eth_rxconf rxq;
	struct rte_eth_txconf txq;
	uint16_t nrx, ntx, q;
	int socket, ret;
	char pool_name[RTE_MEMPOOL_NAMESIZE];

	ret = find_port(gw);
	if (ret)
		return ret;
	ret = rte_eth_dev_info_get(gw->port_id, &info);
	if (ret) {
		GW_LOG(ERR, "port %u: cannot read device info: %s", gw->port_id,
		       rte_strerror(-ret));
		return ret;
	}
	if (gw->n_workers > info.max_rx_queues || gw->n_workers > info.max_tx_queues) {
		GW_LOG(ERR,
		       "port %u (%s): %u workers need %u RX/TX queue pairs, the port has %u RX and %u "
		       "TX (for net_af_packet raise qpairs= in gateway.port.device)",
		       gw->port_id, info.driver_name, gw->n_workers, gw->n_workers,
		       info.max_rx_queues, info.max_tx_queues);
		return -EINVAL;
	}

	socket = rte_eth_dev_socket_id(gw->port_id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	snprintf(pool_name, sizeof(pool_name), "gw_pool_p%u", gw->port_id);
	/* one segment holds a whole frame at the configured MTU (+ VLAN tag, + CRC some PMDs keep)
	 */
	gw->data_room =
	        RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_BUF_SIZE,
	                RTE_PKTMBUF_HEADROOM + RTE_ALIGN((uint32_t)pc->mtu + 14 + 4 + 4, 64));
	gw->pool =
	        rte_pktmbuf_pool_create(pool_name, pc->mempool, pc->mempool_cache,
	                                RTE_ALIGN(sizeof(struct gw_mbuf_priv), RTE_MBUF_PRIV_ALIGN),
	                                (uint16_t)gw->data_room, socket);
	if (!gw->pool) {
		GW_LOG(ERR,
		       "mempool of %u mbufs on socket %d: %s (raise -m in eal_args or lower "
		       "gateway.port.mempool)",
		       pc->mempool, socket, rte_strerror(rte_errno));
		return -rte_errno;
	}

	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = pc->mtu;
	if (gw->n_workers > 1 &&
	    (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP))) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
		        info.flow_type_rss_offloads &
		        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
		if (info.hash_key_size == 40 || info.hash_key_size == 52) {
			conf.rx_adv_conf.rss_conf.rss_key = sym_rss_key;
			conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
		}
		GW_LOG(INFO,
		       "port %u: RSS over IPv4/TCP/UDP (hf 0x%" PRIx64 ", %s key) on %u queues",
		       gw->port_id, conf.rx_adv_conf.rss_conf.rss_hf,
		       conf.rx_adv_conf.rss_conf.rss_key ? "symmetric" : "driver's", gw->n_workers);
	} else if (gw->n_workers > 1) {
		GW_LOG(INFO, "port %u (%s): no RSS; the driver spreads flows over %u queues itself",
		       gw->port_id, info.driver_name, gw->n_workers);
	}
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
		gw->rx_ipck_offload = true;
	}
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
		gw->tx_ipck_offload = true;
	}
	/* gateway.tcp.checksum_offload: auto uses what the port reports (net_af_packet: nothing) */
	if (tcp_csum != POL_TCP_CSUM_OFF && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
		gw->tx_tcpck_offload = true;
	} else if (tcp_csum == POL_TCP_CSUM_ON) {
		GW_LOG(ERR,
		       "port %u (%s) does not report TCP TX checksum offload: "
		       "gateway.tcp.checksum_offload: on cannot be met (use auto or off)",
		       gw->port_id, info.driver_name);
		return -ENOTSUP;
	}
	/*
	 * Zero-copy TX chains an mbuf that points into the app's TX area behind the headers. That
	 * needs multi-segment TX, and IOVA = VA with a device that does no DMA of its own (a vdev):
	 * a PCI NIC would need the app's memory registered and DMA-mapped, which is not done yet,
	 * so PCI ports copy. Fast free is only allowed when every mbuf is plain and from one pool.
	 */
	gw->txz_min = 0;
	if (pc->tx_zero_copy_min && sw_copy_driver(info.driver_name) &&
	    rte_eal_iova_mode() == RTE_IOVA_VA &&
	    (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)) {
		snprintf(pool_name, sizeof(pool_name), "gw_ext_p%u", gw->port_id);
		gw->ext_pool = rte_pktmbuf_pool_create(pool_name, pc->mempool, pc->mempool_cache, 0,
		                                       0, socket);
		if (gw->ext_pool) {
			conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
			gw->txz_min = pc->tx_zero_copy_min;
		} else {
			GW_LOG(WARNING, "zero-copy TX off: no memory for its mbuf pool");
		}
	}
	if (!gw->txz_min && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE))
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

	nrx = ntx = (uint16_t)gw->n_workers;
	ret = rte_eth_dev_configure(gw->port_id, nrx, ntx, &conf);
	if (ret) {
		GW_LOG(ERR, "port %u: configure %u/%u queues: %s", gw->port_id, nrx, ntx,
		       rte_strerror(-ret));
		return ret;
	}
	uint16_t nb_rxd = pc->rx_ring, nb_txd = pc->tx_ring;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(gw->port_id, &nb_rxd, &nb_txd);
	if (ret) {
		GW_LOG(ERR, "port %u: ring sizes %u/%u: %s", gw->port_id, pc->rx_ring, pc->tx_ring,
		       rte_strerror(-ret));
		return ret;
	}
	if (nb_rxd != pc->rx_ring || nb_txd != pc->tx_ring)
		GW_LOG(NOTICE, "port %u: driver adjusted rings to %u RX / %u TX descriptors",
		       gw->port_id, nb_rxd, nb_txd);

	rxq = info.default_rxconf;
	rxq.offloads = conf.rxmode.offloads;
	txq = info.default_txconf;
	txq.offloads = conf.txmode.offloads;
	for (q = 0; q < nrx; q++) {
		ret = rte_eth_rx_queue_setup(gw->port_id, q, nb_rxd, (unsigned)socket, &rxq,
		                             gw->pool);
		if (ret) {
			GW_LOG(ERR, "port %u: RX queue %u: %s", gw->port_id, q, rte_strerror(-ret));
			return ret;
		}
	}
	for (q = 0; q < ntx; q++) {
		ret = rte_eth_tx_queue_setup(gw->port_id, q, nb_txd, (unsigned)socket, &txq);
		if (ret) {
			GW_LOG(ERR, "port %u: TX queue %u: %s", gw->port_id, q, rte_strerror(-ret));
			return ret;
		}
	}

	if (pc->has_mac) {
		struct rte_ether_addr a;

		memcpy(a.addr_bytes, pc->mac, 6);
		ret = rte_eth_dev_default_mac_addr_set(gw->port_id, &a);
		if (ret) {
			GW_LOG(ERR, "port %u: cannot set MAC from gateway.port.mac: %s",
			       gw->port_id, rte_strerror(-ret));
			return ret;
		}
	}
	ret = rte_eth_macaddr_get(gw->port_id, &gw->mac);
	if (ret) {
		GW_LOG(ERR, "port %u: cannot read MAC: %s", gw->port_id, rte_strerror(-ret));
		return ret;
	}

	ret = rte_eth_dev_start(gw->port_id);
	if (ret) {
		GW_LOG(ERR, "port %u: start: %s", gw->port_id, rte_strerror(-ret));
		return ret;
	}
	gw->port_started = true;
	/* We filter by MAC in software; promiscuous is not needed, but some vdevs (af_packet)
	 * are promiscuous anyway. Multicast is dropped and counted by the stack. */
	if (gw->txz_min)
		GW_LOG(INFO, "port %u: app UDP payloads of %u bytes and more go out zero-copy",
		       gw->port_id, gw->txz_min);
	GW_LOG(INFO,
	       "port %u (%s): %u RX/TX queues, %u/%u descriptors, IPv4 checksum offload rx %s tx %s, "
	       "TCP checksum offload tx %s",
	       gw->port_id, info.driver_name, nrx, nb_rxd, nb_txd,
	       gw->rx_ipck_offload ? "on" : "off", gw->tx_ipck_offload ? "on" : "off",
	       gw->tx_tcpck_offload ? "on" : "off");
	return 0;
}

void
gw_port_stop(struct gw *gw)
{
	int ret;

	gw_flow_fini(gw); /* rte_flow rules go before the port stops */
	if (gw->have_port && gw->port_started) {
		ret = rte_eth_dev_stop(gw->port_id);
		if (ret)
			GW_LOG(WARNING, "port %u: stop: %s", gw->port_id, rte_strerror(-ret));
		gw->port_started = false;
	}
}

void
gw_port_fini(struct gw *gw)
{
	int ret;

	if (!gw->have_port)
		goto out_pool;
	gw_port_stop(gw);
	ret = rte_eth_dev_close(gw->port_id);
	if (ret)
		GW_LOG(WARNING, "port %u: close: %s", gw->port_id, rte_strerror(-ret));
	gw->have_port = false;
out_pool:
	rte_mempool_free(gw->pool);
	gw->pool = NULL;
	rte_mempool_free(gw->ext_pool);
	gw->ext_pool = NULL;
}
