/* A tiny freestanding runtime for the test guests. */
#pragma once
#include <stdint.h>
#include <stddef.h>

struct multiboot_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
    uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
    uint32_t drives_length, drives_addr, config_table, boot_loader_name;
};

#define MULTIBOOT_MAGIC 0x2BADB002u
#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

void putc(char c);
void puts(const char *s);
void put_hex(uint32_t v, int digits);
void put_dec(uint32_t v);
void put_line(const char *label, uint32_t v);
/* Value of "key=<decimal>" in the command line, or dflt. */
uint32_t cmdline_u32(const struct multiboot_info *mbi, const char *key, uint32_t dflt);
__attribute__((noreturn)) void debug_exit(uint32_t v);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
