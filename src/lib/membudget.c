/* membudget.c: see membudget.h. One counter of bytes in use, its peak and
 * the refusals; a reservation is a compare-and-swap loop, so two sessions
 * cannot both take the last bytes. */
#include "lib/membudget.h"

#include <stdatomic.h>

static _Atomic uint64_t limit_bytes;
static _Atomic uint64_t used_bytes;
static _Atomic uint64_t peak_bytes;
static _Atomic uint64_t refusals;

static void
note_peak(uint64_t now)
{
	uint64_t p = atomic_load_explicit(&peak_bytes, memory_order_relaxed);

	while (now > p && !atomic_compare_exchange_weak_explicit(&peak_bytes, &p, now,
	    memory_order_relaxed, memory_order_relaxed))
		;
}

void
membudget_set_limit(uint64_t bytes)
{
	atomic_store_explicit(&limit_bytes, bytes, memory_order_relaxed);
}

uint64_t
membudget_limit(void)
{
	return atomic_load_explicit(&limit_bytes, memory_order_relaxed);
}

bool
membudget_reserve(uint64_t n)
{
	uint64_t lim = membudget_limit();
	uint64_t u = atomic_load_explicit(&used_bytes, memory_order_relaxed);

	do {
		if (lim != 0 && (n > lim || u > lim - n)) {
			atomic_fetch_add_explicit(&refusals, 1, memory_order_relaxed);
			return false;
		}
	} while (!atomic_compare_exchange_weak_explicit(&used_bytes, &u, u + n,
	    memory_order_relaxed, memory_order_relaxed));
	note_peak(u + n);
	return true;
}

void
membudget_charge(uint64_t n)
{
	uint64_t u = atomic_fetch_add_explicit(&used_bytes, n, memory_order_relaxed);

	note_peak(u + n);
}

void
membudget_release(uint64_t n)
{
	uint64_t u = atomic_load_explicit(&used_bytes, memory_order_relaxed);

	/* never below zero, even after a bookkeeping slip */
	while (!atomic_compare_exchange_weak_explicit(&used_bytes, &u, u >= n ? u - n : 0,
	    memory_order_relaxed, memory_order_relaxed))
		;
}

uint64_t
membudget_used(void)
{
	return atomic_load_explicit(&used_bytes, memory_order_relaxed);
}

uint64_t
membudget_peak(void)
{
	return atomic_load_explicit(&peak_bytes, memory_order_relaxed);
}

uint64_t
membudget_refusals(void)
{
	return atomic_load_explicit(&refusals, memory_order_relaxed);
}

void
membudget_reset(void)
{
	atomic_store(&limit_bytes, 0);
	atomic_store(&used_bytes, 0);
	atomic_store(&peak_bytes, 0);
	atomic_store(&refusals, 0);
}
