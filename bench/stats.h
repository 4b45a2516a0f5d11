/*
 * stats.h — sorting and percentiles of latency samples, for the benchmark programs.
 */
#ifndef VMNET_BENCH_STATS_H
#define VMNET_BENCH_STATS_H

/* qsort comparator for doubles, ascending. */
static inline int stats_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0..100) of n sorted values. Return: the value, or 0 when n is 0. */
static inline double stats_percentile(const double *v, unsigned n, double p)
{
	unsigned k;

	if (!n)
		return 0;
	k = (unsigned)(p / 100 * n + 0.999999);
	return v[(k ? k : 1) - 1];
}

#endif
