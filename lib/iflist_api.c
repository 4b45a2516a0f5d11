/* iflist_api.c — vmnet_copy_shared_interface_list(): host NICs usable in bridged mode (spec §6). */
#include <vmnet/vmnet.h>

#include "common/iflist.h"
#include "common/log.h"

#define IFLIST_MAX 256

xpc_object_t vmnet_copy_shared_interface_list(void)
{
	char names[IFLIST_MAX][IFLIST_NAMESIZ];
	xpc_object_t list = xpc_array_create_empty();
	int n;

	if (!list)
		return NULL;
	n = iflist_bridgeable(names, IFLIST_MAX);
	if (n < 0)
		log_warn("cannot list host interfaces: %s", strerror(-n));
	for (int i = 0; i < n; i++)
		xpc_array_set_string(list, XPC_ARRAY_APPEND, names[i]);
	return list;
}
