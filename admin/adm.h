/* adm.h - the REST admin API as the gateway starts and stops it (docs/admin-api.md). */
#ifndef BYPASSD_ADMIN_ADM_H
#define BYPASSD_ADMIN_ADM_H

struct gw;

/*
 * When gw->cfg->gw.admin.enabled: load the TLS material and the tokens, bind the listening
 * socket (errors are logged and returned, so a bad certificate stops the start), then serve on a
 * thread of its own (a plain pthread, not an lcore; it inherits the main thread's CPU set and
 * signal mask). 0 (also when disabled), or -errno.
 */
int adm_start(struct gw *gw);
/* Stop serving and join the thread; in-flight requests finish first. Safe when not started. */
void adm_stop(void);

#endif
