/* membudget.h: the [limits] max_memory budget: message bytes held in RAM
 * across all sessions (SMTP data not yet spooled, APPEND literals, FETCH
 * and relay bodies). A new transfer reserves what it will hold and is
 * refused for now (452 4.3.1, NO [LIMIT]) when that would go over; bytes
 * already in (a LITERAL+ literal, a body read for FETCH) are charged even
 * over it, so a transfer under way always completes. Relaxed C11 atomics:
 * callable from the loop thread and from workers. Pure. */
#ifndef MM_MEMBUDGET_H
#define MM_MEMBUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* 0: no limit. SIGHUP may change it; what is held stays held. */
void membudget_set_limit(uint64_t bytes);
uint64_t membudget_limit(void);
/* Takes n bytes if used + n stays within the limit; false (nothing taken,
 * counted as a refusal) if not. */
bool membudget_reserve(uint64_t n);
/* Takes n bytes whatever the limit. */
void membudget_charge(uint64_t n);
void membudget_release(uint64_t n);
uint64_t membudget_used(void);
uint64_t membudget_peak(void);
uint64_t membudget_refusals(void);
/* Tests: zero everything (the limit included). */
void membudget_reset(void);

#endif
