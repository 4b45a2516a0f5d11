/*
 * hello_vmnet.c — the smallest complete vmnet client, written as on macOS:
 * start a host-mode interface, print what vmnet gave it, send one broadcast
 * frame, stop. Build: clang -fblocks hello_vmnet.c $(pkg-config --cflags --libs vmnet)
 */
#include <stdio.h>
#include <stdlib.h>
#include <vmnet/vmnet.h>

int main(void)
{
	xpc_object_t desc = xpc_dictionary_create(NULL, NULL, 0);
	dispatch_queue_t q = dispatch_queue_create("hello.vmnet", DISPATCH_QUEUE_SERIAL);
	dispatch_semaphore_t done = dispatch_semaphore_create(0);
	__block vmnet_return_t status = VMNET_FAILURE;
	__block uint64_t max_packet = 0;

	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key, VMNET_HOST_MODE);
	interface_ref iface = vmnet_start_interface(desc, q, ^(vmnet_return_t st, xpc_object_t param) {
		status = st;
		if (st == VMNET_SUCCESS) {
			printf("mac %s, mtu %llu, subnet %s-%s\n", xpc_dictionary_get_string(param, vmnet_mac_address_key),
			       (unsigned long long)xpc_dictionary_get_uint64(param, vmnet_mtu_key),
			       xpc_dictionary_get_string(param, vmnet_start_address_key),
			       xpc_dictionary_get_string(param, vmnet_end_address_key));
			max_packet = xpc_dictionary_get_uint64(param, vmnet_max_packet_size_key);
		}
		dispatch_semaphore_signal(done);
	});
	xpc_release(desc);
	if (!iface || dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 10 * NSEC_PER_SEC)) ||
	    status != VMNET_SUCCESS) {
		fprintf(stderr, "vmnet_start_interface: %s\n", vmnet_strerror(status));
		return 1;
	}

	unsigned char frame[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5 };
	struct iovec iov = { frame, sizeof(frame) };
	struct vmpktdesc pkt = { .vm_pkt_size = sizeof(frame), .vm_pkt_iov = &iov, .vm_pkt_iovcnt = 1 };
	int count = 1;
	vmnet_return_t wr = vmnet_write(iface, &pkt, &count);
	printf("write: %s, %d packet(s), max packet size %llu\n", vmnet_strerror(wr), count,
	       (unsigned long long)max_packet);

	vmnet_stop_interface(iface, q, ^(vmnet_return_t st) {
		status = st;
		dispatch_semaphore_signal(done);
	});
	dispatch_semaphore_wait(done, dispatch_time(DISPATCH_TIME_NOW, 10 * NSEC_PER_SEC));
	printf("stopped: %s\n", vmnet_strerror(status));
	dispatch_release(q);
	dispatch_release(done);
	return status == VMNET_SUCCESS && wr == VMNET_SUCCESS ? 0 : 1;
}
