/* fuzz_ctl.c — libFuzzer target: control messages as vmnetd receives them (common/ctl.c). */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xpc/xpc.h>

#include "common/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int sp[2] = { -1, -1 };
	struct ctl_hdr h;
	void *payload = NULL;
	int fds[CTL_MAX_FDS], nfds = 0;

	if (sp[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) < 0)
		abort();
	if (size > CTL_MAX_MSG)
		size = CTL_MAX_MSG;
	if (size == 0 || send(sp[1], data, size, 0) != (ssize_t)size)
		return 0;
	if (ctl_recv(sp[0], &h, &payload, fds, &nfds) == 0) {
		if (!payload || xpc_get_type(payload) != XPC_TYPE_DICTIONARY)
			abort();
		xpc_release(payload);
	} else if (payload) {
		abort(); /* a failed receive must not hand out an object */
	}
	return 0;
}
