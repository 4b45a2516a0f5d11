/* log.h — one logging function for daemon, library and tools. */
#ifndef VMNET_COMMON_LOG_H
#define VMNET_COMMON_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Messages at or below this level are printed (default: warnings; VMNET_DEBUG=1 raises it). */
extern int log_level;
/* Prefix put before every line ("vmnetd", "libvmnet", ...). */
extern const char *log_ident;

void log_init(const char *ident);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_level >= LOG_LVL_DEBUG) \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
