/*
 * fuzz_settings.c — libFuzzer target: the per-network settings file and the
 * `vmnet config` lines (daemon/settings.c), port forward lines included. A
 * text that parses must format and parse back to the same settings.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "daemon/settings.h"

struct daemon_opts opts;
bool daemon_quit;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gateway_config cfg, back;
	static char text[70 * 1024], out[70 * 1024];
	struct in_addr base = { .s_addr = htonl(0xc0a84000u) }, mask = { .s_addr = htonl(0xffffff00u) };
	char err[160];
	size_t n;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	gateway_config_default(&cfg);
	if (settings_parse(text, base, mask, &cfg, err, sizeof(err)) < 0)
		return 0;
	n = settings_format(&cfg, out, sizeof(out));
	if (n >= sizeof(out) - 1)
		abort(); /* a full configuration must fit */
	gateway_config_default(&back);
	if (settings_parse(out, base, mask, &back, err, sizeof(err)) < 0)
		abort(); /* what we write, we read */
	if (back.nfwd != cfg.nfwd || memcmp(back.fwd, cfg.fwd, cfg.nfwd * sizeof(cfg.fwd[0])) ||
	    back.nres != cfg.nres || back.lease_time != cfg.lease_time)
		abort();
	return 0;
}
