/*
 * payload.h - message bytes as a function of (connection id, stream offset).
 *
 * Nothing sent is stored: the receiver regenerates what it expects and
 * compares. The function mixes the offset's low and high bytes and the
 * connection id, so a lost, repeated, reordered (by a multiple of 256 bytes
 * too) or misdelivered byte shows. The loop vectorises; 64 bytes cost a few
 * nanoseconds, noise next to the ~2 us of a loopback send + recv.
 */
#ifndef LG_PAYLOAD_H
#define LG_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

static inline uint8_t payload_byte(uint32_t id, uint64_t off)
{
	uint32_t o = (uint32_t)off, hi = (uint32_t)(off >> 8);
	return (uint8_t)(o * 7u + hi * 13u + id * 29u + (id >> 8) * 3u + 1u);
}

static inline void payload_fill(uint8_t *buf, uint32_t id, uint64_t off, size_t n)
{
	uint32_t base = id * 29u + (id >> 8) * 3u + 1u;
	for (size_t i = 0; i < n; i++) {
		uint64_t o = off + i;
		buf[i] = (uint8_t)((uint32_t)o * 7u + (uint32_t)(o >> 8) * 13u + base);
	}
}

/* The server's work key (servers/common.h work_key(), duplicated because
 * the server header's globals would clash here; tests/unit/test_common.c
 * checks that both agree): the first two bytes, little-endian, or the one
 * byte of a 1-byte message. This one reads them from (id, off), the start
 * of a message of `size` bytes. */
static inline unsigned payload_work_key(uint32_t id, uint64_t off, uint32_t size)
{
	unsigned b0 = payload_byte(id, off);
	return size >= 2 ? b0 | (unsigned)payload_byte(id, off + 1) << 8 : b0;
}

/* Index of the first byte of buf that is not what (id, off..) should be,
 * or n when all match. */
static inline size_t payload_check(const uint8_t *buf, uint32_t id, uint64_t off, size_t n)
{
	uint32_t base = id * 29u + (id >> 8) * 3u + 1u;
	uint8_t bad = 0;
	for (size_t i = 0; i < n; i++) {       /* branch-free pass first (vectorises) */
		uint64_t o = off + i;
		bad |= (uint8_t)(buf[i] ^ (uint8_t)((uint32_t)o * 7u + (uint32_t)(o >> 8) * 13u + base));
	}
	if (!bad)
		return n;
	for (size_t i = 0; i < n; i++)
		if (buf[i] != payload_byte(id, off + i))
			return i;
	return n;
}

#endif
