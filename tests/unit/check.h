/* check.h — the tiny assertion helpers of the unit tests. */
#ifndef VMNET_TEST_CHECK_H
#define VMNET_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_count, check_failed;

#define CHECK(cond) \
	do { \
		check_count++; \
		if (!(cond)) { \
			check_failed++; \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		} \
	} while (0)

/* Print the closing line and return the exit status. */
static inline int check_done(void)
{
	printf("%d passed, %d failed\n", check_count - check_failed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
