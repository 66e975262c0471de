// SPDX-License-Identifier: MIT
/*
 * lib/interval_tree.c: overlap queries against a brute-force model, the
 * red-black and augmentation invariants after every kind of change, and
 * the edges of the value range.
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"
#include "lib/interval_tree_debug.h"

struct item {
	struct interval_tree_node it;
	bool in_tree;
	unsigned long order;	/* insertion stamp: ties keep this order */
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic from the printed seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void set_interval(struct item *item, unsigned long start,
			 unsigned long last)
{
	item->it.start = start;
	item->it.last = last;
}

static void insert_item(struct item *item, struct rb_root_cached *root,
			unsigned long *stamp)
{
	interval_tree_insert(&item->it, root);
	item->in_tree = true;
	item->order = (*stamp)++;
}

static void remove_item(struct item *item, struct rb_root_cached *root)
{
	interval_tree_remove(&item->it, root);
	item->in_tree = false;
	assert_true(interval_tree_node_empty(&item->it));
}

static int cmp_items(const void *a, const void *b)
{
	const struct item *x = *(const struct item * const *)a;
	const struct item *y = *(const struct item * const *)b;

	if (x->it.start != y->it.start)
		return x->it.start < y->it.start ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Compare the tree's answer for [start, last] with the model's: the same
 * nodes in the same order (by start, then by insertion).
 */
static void check_query(struct rb_root_cached *root, struct item *items,
			size_t n, unsigned long start, unsigned long last)
{
	struct item **want = calloc(n + 1, sizeof(*want));
	struct interval_tree_node *node;
	size_t nwant = 0, i = 0;

	assert_non_null(want);
	for (size_t k = 0; k < n; k++) {
		if (items[k].in_tree && items[k].it.start <= last &&
		    start <= items[k].it.last)
			want[nwant++] = &items[k];
	}
	qsort(want, nwant, sizeof(*want), cmp_items);

	for (node = interval_tree_iter_first(root, start, last); node;
	     node = interval_tree_iter_next(node, start, last)) {
		assert_true(i < nwant);
		assert_ptr_equal(node, &want[i]->it);
		i++;
	}
	assert_int_equal(i, nwant);
	free(want);
}

/* An empty tree answers nothing and is valid. */
static void test_empty(void **state)
{
	struct rb_root_cached root = RB_ROOT_CACHED;
	struct item a;

	assert_true(interval_tree_empty(&root));
	assert_true(interval_tree_validate(&root));
	assert_null(interval_tree_iter_first(&root, 0, ULONG_MAX));
	assert_null(interval_tree_iter_first(&root, 5, 5));

	interval_tree_node_init(&a.it);
	assert_true(interval_tree_node_empty(&a.it));
	set_interval(&a, 1, 2);
	interval_tree_insert(&a.it, &root);
	assert_false(interval_tree_node_empty(&a.it));
	assert_false(interval_tree_empty(&root));
	interval_tree_remove(&a.it, &root);
	assert_true(interval_tree_node_empty(&a.it));
	assert_true(interval_tree_empty(&root));
	assert_null(root.leftmost);
	assert_true(interval_tree_validate(&root));
}

/* Closed intervals: a single point overlaps exactly itself. */
static void test_point_intervals(void **state)
{
	struct rb_root_cached root = RB_ROOT_CACHED;
	struct item p[3];
	unsigned long stamp = 0;

	for (int i = 0; i < 3; i++) {
		interval_tree_node_init(&p[i].it);
		set_interval(&p[i], 10 * (i + 1), 10 * (i + 1));
		insert_item(&p[i], &root, &stamp);
	}
	assert_true(interval_tree_validate(&root));
	assert_ptr_equal(interval_tree_iter_first(&root, 20, 20), &p[1].it);
	assert_null(interval_tree_iter_next(&p[1].it, 20, 20));
	assert_null(interval_tree_iter_first(&root, 19, 19));
	assert_null(interval_tree_iter_first(&root, 21, 21));
	assert_null(interval_tree_iter_first(&root, 0, 9));
	assert_null(interval_tree_iter_first(&root, 31, ULONG_MAX));
	assert_ptr_equal(interval_tree_iter_first(&root, 0, 10), &p[0].it);
	assert_ptr_equal(interval_tree_iter_first(&root, 30, ULONG_MAX),
			 &p[2].it);
	check_query(&root, p, 3, 10, 30);
	check_query(&root, p, 3, 11, 29);
	check_query(&root, p, 3, 0, ULONG_MAX);
}

/* [0, ULONG_MAX] overlaps every query, including the extreme points. */
static void test_full_range(void **state)
{
	struct rb_root_cached root = RB_ROOT_CACHED;
	struct item it[4];
	unsigned long stamp = 0;

	for (int i = 0; i < 4; i++)
		interval_tree_node_init(&it[i].it);
	set_interval(&it[0], 0, ULONG_MAX);
	set_interval(&it[1], ULONG_MAX, ULONG_MAX);
	set_interval(&it[2], 0, 0);
	set_interval(&it[3], 1UL << 63, ULONG_MAX - 1);
	for (int i = 0; i < 4; i++)
		insert_item(&it[i], &root, &stamp);
	assert_true(interval_tree_validate(&root));
	assert_int_equal(root.root->__subtree_last, ULONG_MAX);

	check_query(&root, it, 4, 0, 0);
	check_query(&root, it, 4, ULONG_MAX, ULONG_MAX);
	check_query(&root, it, 4, 0, ULONG_MAX);
	check_query(&root, it, 4, 1, ULONG_MAX - 1);
	check_query(&root, it, 4, 12345, 12345);

	remove_item(&it[0], &root);
	assert_true(interval_tree_validate(&root));
	assert_null(interval_tree_iter_first(&root, 1, (1UL << 63) - 1));
	check_query(&root, it, 4, 0, ULONG_MAX);
	remove_item(&it[1], &root);
	assert_true(interval_tree_validate(&root));
	assert_int_equal(root.root->__subtree_last, ULONG_MAX - 1);
	assert_null(interval_tree_iter_first(&root, ULONG_MAX, ULONG_MAX));
}

/* Many copies of one interval: all found, in insertion order, also after
 * removing some of them from the middle. */
static void test_duplicates(void **state)
{
	enum { N = 200 };
	struct rb_root_cached root = RB_ROOT_CACHED;
	struct item *it = calloc(N, sizeof(*it));
	unsigned long stamp = 0;

	assert_non_null(it);
	for (int i = 0; i < N; i++) {
		interval_tree_node_init(&it[i].it);
		set_interval(&it[i], 100, 200);
		insert_item(&it[i], &root, &stamp);
		assert_true(interval_tree_validate(&root));
	}
	check_query(&root, it, N, 150, 150);
	check_query(&root, it, N, 0, 100);
	check_query(&root, it, N, 200, 300);
	assert_null(interval_tree_iter_first(&root, 201, ULONG_MAX));
	assert_null(interval_tree_iter_first(&root, 0, 99));
	assert_ptr_equal(root.leftmost, &it[0].it);

	for (int i = 0; i < N; i += 3) {
		remove_item(&it[i], &root);
		assert_true(interval_tree_validate(&root));
	}
	check_query(&root, it, N, 100, 200);
	assert_ptr_equal(root.leftmost, &it[1].it);

	/* Re-inserted nodes go after their equals. */
	for (int i = 0; i < N; i += 3)
		insert_item(&it[i], &root, &stamp);
	assert_true(interval_tree_validate(&root));
	check_query(&root, it, N, 100, 200);

	for (int i = 0; i < N; i++)
		remove_item(&it[i], &root);
	assert_true(interval_tree_empty(&root));
	free(it);
}

/* Sorted and reverse-sorted insertion (the rotation-heavy patterns), then
 * removal from the front, the back and the middle. */
static void test_sequential(void **state)
{
	enum { N = 1024 };
	struct rb_root_cached root = RB_ROOT_CACHED;
	struct item *it = calloc(N, sizeof(*it));
	unsigned long stamp = 0;

	assert_non_null(it);
	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < N; k++) {
			int i = pass ? N - 1 - k : k;

			interval_tree_node_init(&it[i].it);
			/* Nested: early ones are long, to stress the
			 * subtree maxima. */
			set_interval(&it[i], i * 10, i * 10 + (N - i) * 5);
			insert_item(&it[i], &root, &stamp);
		}
		assert_true(interval_tree_validate(&root));
		assert_ptr_equal(root.leftmost, &it[0].it);
		check_query(&root, it, N, 5000, 5000);
		check_query(&root, it, N, 10230, ULONG_MAX);

		for (int i = 0; i < N / 4; i++) {
			remove_item(&it[i], &root);
			remove_item(&it[N - 1 - i], &root);
			remove_item(&it[N / 2 + (i % 2 ? i / 2 : -i / 2 - 1)],
				    &root);
			if (i % 16 == 0)
				assert_true(interval_tree_validate(&root));
		}
		assert_true(interval_tree_validate(&root));
		check_query(&root, it, N, 0, ULONG_MAX);
		for (int i = 0; i < N; i++)
			if (it[i].in_tree)
				remove_item(&it[i], &root);
		assert_true(interval_tree_empty(&root));
	}
	free(it);
}

static unsigned long random_point(void)
{
	switch (rng() % 8) {
	case 0:
		return ULONG_MAX - rng() % 64;
	case 1:
		return rng() % 4;
	default:
		return rng() % 4096;
	}
}

static void random_interval(unsigned long *start, unsigned long *last)
{
	unsigned long a = random_point(), b;

	switch (rng() % 4) {
	case 0:		/* a point */
		b = a;
		break;
	case 1:		/* anything */
		b = random_point();
		break;
	default:	/* short */
		b = a + rng() % 64;
		if (b < a)
			b = ULONG_MAX;
		break;
	}
	*start = min(a, b);
	*last = max(a, b);
}

/* Thousands of random inserts, removes and queries against the model. */
static void test_random_against_model(void **state)
{
	enum { N = 600, OPS = 30000 };
	struct rb_root_cached root = RB_ROOT_CACHED;
	struct item *it = calloc(N, sizeof(*it));
	unsigned long stamp = 0, start, last;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	const char *env = getenv("UHMM_TEST_SEED");
	size_t live = 0;

	if (env)
		seed = strtoull(env, NULL, 0);
	print_message("# seed %#llx (set UHMM_TEST_SEED to repeat)\n",
		      (unsigned long long)seed);
	rng_state = seed | 1;

	assert_non_null(it);
	for (int i = 0; i < N; i++)
		interval_tree_node_init(&it[i].it);

	for (int op = 0; op < OPS; op++) {
		struct item *item = &it[rng() % N];
		unsigned int what = rng() % 8;

		/* Bias toward growth until half full, then keep steady. */
		if (what < 3 || (what < 5 && live < N / 2)) {
			if (!item->in_tree) {
				random_interval(&start, &last);
				set_interval(item, start, last);
				insert_item(item, &root, &stamp);
				live++;
			}
		} else if (what < 6) {
			if (item->in_tree) {
				remove_item(item, &root);
				live--;
			}
		} else {
			random_interval(&start, &last);
			check_query(&root, it, N, start, last);
		}
		if (op % 97 == 0)
			assert_true(interval_tree_validate(&root));
	}
	assert_true(interval_tree_validate(&root));
	check_query(&root, it, N, 0, ULONG_MAX);

	/* Drain in random order, validating as the tree shrinks. */
	while (live) {
		struct item *item = &it[rng() % N];

		if (!item->in_tree)
			continue;
		remove_item(item, &root);
		live--;
		if (live % 17 == 0) {
			assert_true(interval_tree_validate(&root));
			random_interval(&start, &last);
			check_query(&root, it, N, start, last);
		}
	}
	assert_true(interval_tree_empty(&root));
	assert_null(root.leftmost);
	free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_point_intervals),
		cmocka_unit_test(test_full_range),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_random_against_model),
	};

	/* e.g. UHMM_TEST_FILTER='test_race*' to run one scenario */
	if (getenv("UHMM_TEST_FILTER"))
		cmocka_set_test_filter(getenv("UHMM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
