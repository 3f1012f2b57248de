/* bp_error.h - bypassd's own error codes: what the gateway answers and what libbypass returns. */
#ifndef BYPASS_BP_ERROR_H
#define BYPASS_BP_ERROR_H

/**
 * @file
 * Error codes of bypassd.
 *
 * libbypass functions return 0 (or a count) on success and a negative code on failure: either
 * `-errno` for a failed system call or bad argument (`-EINVAL`, `-ENOMEM`, `-ETIMEDOUT`, ...), or
 * `-BP_E*` for a bypassd-specific condition. The BP_E values start at #BP_ERR_BASE, above every
 * errno value, so one `int` carries both and bp_strerror() names either.
 *
 * The same numbers travel in control messages from the gateway (`struct bp_ctl_error.code`), so
 * a refusal at attach time reaches the application unchanged.
 */

#ifdef __cplusplus
extern "C" {
#endif

/** First bypassd-specific error code; every errno value is below it. */
#define BP_ERR_BASE 1000

/**
 * The bypassd error codes: _(NAME, value, "message"). The enum gets BP_E##NAME.
 * Values are part of the ABI: append only, never renumber.
 */
#define foreach_bp_error(_)                                                                \
	_(SHUTDOWN, 1000, "the gateway is gone: it stopped, crashed or closed this queue") \
	_(ABI, 1001, "the gateway does not speak this ABI version")                        \
	_(TENANT, 1002, "unknown tenant")                                                  \
	_(DENIED, 1003, "permission denied: the tenant does not admit this uid/gid")       \
	_(QUOTA, 1004, "tenant quota exceeded (apps, queues, buffers or ports)")           \
	_(SIZES, 1005, "ring or buffer sizes not acceptable")                              \
	_(PROTO, 1006, "malformed or unexpected control message")                          \
	_(ADDRINUSE, 1007, "address and port already bound by another app")                \
	_(ADDRNOTAVAIL, 1008, "address is not one of the tenant's addresses")              \
	_(PORT, 1009, "port not given to this tenant")                                     \
	_(NOTSUP, 1010, "not supported by this gateway or by the tenant's policy")         \
	_(INTERNAL, 1011, "gateway internal error")                                        \
	_(BUSY, 1012, "gateway busy, try again later")                                     \
	_(BADSOCK, 1013, "no such socket on this queue")

/** bypassd-specific error codes (returned negated). */
enum bp_error {
#define _(n, v, s) BP_E##n = v,
	foreach_bp_error(_)
#undef _
	        BP_ERR_END /**< one past the last code */
};

#ifdef __cplusplus
}
#endif

#endif
