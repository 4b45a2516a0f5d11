/*
 * kvtext.h — reading the daemon's small "key=value" text files (settings,
 * named-network definitions): one setting per line, blank lines and '#'
 * comments skipped, spaces around a line ignored, CRLF tolerated.
 */
#ifndef VMNET_COMMON_KVTEXT_H
#define VMNET_COMMON_KVTEXT_H

#include <stddef.h>

/* Longest line accepted. */
#define KVTEXT_LINE_MAX 256

/* Handle one trimmed, non-empty line (it may be cut up). Return: 0, or < 0 to stop with an error. */
typedef int (*kvtext_fn)(void *ctx, char *line);

/*
 * Feed every line of text to fn. what names a line in messages ("setting").
 * Return: 0, or -EINVAL with "line N: too long" or "line N: bad WHAT \"...\"" in err.
 */
int kvtext_lines(const char *text, const char *what, kvtext_fn fn, void *ctx, char *err, size_t errlen);

#endif
