/* fuzz_desc.c — libFuzzer target: interface_desc dictionaries as vmnetd validates them (daemon/desc.c). */
#include <stdint.h>
#include <stdlib.h>
#include <vmnet/vmnet.h>

#include "daemon/daemon.h"

struct daemon_opts opts;
bool daemon_quit;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xpc_object_t d = xpc_vmnet_decode(data, size);
	struct iface_req req;
	const char *why = NULL;
	uint32_t st;

	if (!d)
		return 0;
	st = desc_parse(d, &req, &why);
	if (st != VMNET_SUCCESS && !why)
		abort(); /* every refusal must say why */
	if (st < VMNET_SUCCESS || st > VMNET_NOT_AUTHORIZED)
		abort();
	xpc_release(d);
	return 0;
}
