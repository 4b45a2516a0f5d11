/* log.c — timestamped lines on stderr, level chosen by VMNET_DEBUG. */
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int log_level = LOG_LVL_WARN;
const char *log_ident = "vmnet";

void log_init(const char *ident)
{
	const char *d = getenv("VMNET_DEBUG");

	log_ident = ident;
	/* VMNET_DEBUG=1: info, 2 or more: debug; 0 or empty: the default. */
	if (d && atoi(d) > 0)
		log_level = atoi(d) > 1 ? LOG_LVL_DEBUG : LOG_LVL_INFO;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	struct timespec ts;
	char line[1024];
	va_list ap;
	int n;

	if ((int)lvl > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lld.%03ld %s: %s: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
		     log_ident, names[lvl]);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
