/*
 * fuzz_xpc_wire.c — libFuzzer target for the xpc byte decoder.
 *
 * Decodes arbitrary bytes. When decoding succeeds, the object must encode
 * again, the re-encoding must equal the input byte for byte (the format is
 * canonical), and decoding it must give an equal object. Any violation
 * aborts so the fuzzer reports it.
 */
#include <xpc/xpc.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xpc_object_t obj = xpc_vmnet_decode(data, size);
	if (!obj)
		return 0;

	size_t len = 0;
	uint8_t *enc = xpc_vmnet_encode(obj, &len);
	if (!enc || len != size || memcmp(enc, data, size) != 0)
		abort();

	xpc_object_t again = xpc_vmnet_decode(enc, len);
	if (!again || !xpc_equal(obj, again) || xpc_hash(obj) != xpc_hash(again))
		abort();

	/* Exercise the rest of the read-only surface on decoded objects too. */
	char *desc = xpc_copy_description(obj);
	if (!desc)
		abort();
	free(desc);
	xpc_object_t copy = xpc_copy(obj);
	if (!xpc_equal(obj, copy))
		abort();

	xpc_release(copy);
	xpc_release(again);
	free(enc);
	xpc_release(obj);
	return 0;
}
