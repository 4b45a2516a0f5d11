/* kvtext.c — line reader for the daemon's key=value files (see kvtext.h). */
#include "common/kvtext.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int kvtext_lines(const char *text, const char *what, kvtext_fn fn, void *ctx, char *err, size_t errlen)
{
	char line[KVTEXT_LINE_MAX], orig[KVTEXT_LINE_MAX];
	unsigned lineno = 0;

	while (*text) {
		size_t n = strcspn(text, "\n");
		char *s = line, *e;

		lineno++;
		if (n >= sizeof(line)) {
			snprintf(err, errlen, "line %u: too long", lineno);
			return -EINVAL;
		}
		memcpy(line, text, n);
		line[n] = 0;
		text += n + (text[n] == '\n');
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = 0;
		if (!*s || *s == '#')
			continue;
		memcpy(orig, s, strlen(s) + 1); /* fn may cut the line up */
		if (fn(ctx, s) < 0) {
			snprintf(err, errlen, "line %u: bad %s \"%.60s\"", lineno, what, orig);
			return -EINVAL;
		}
	}
	return 0;
}
