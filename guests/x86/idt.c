/* idt: a GDT and IDT of its own, then software interrupts and exceptions
 * through 32-bit interrupt gates: int 0x30 (handler changes EAX), int3
 * (trap: EIP after the instruction), #DE from div by zero and #UD from ud2
 * (faults: EIP of the instruction; the handler skips it), #GP with the
 * selector as error code from loading a selector beyond the GDT limit.
 * Prints what each handler saw. */
#include "common/rt.h"

struct frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
    uint32_t vector, error, eip, cs, eflags;
};

extern char isr_0[], isr_3[], isr_6[], isr_13[], isr_48[];
extern char div0_insn[], ud2_insn[], gp_insn[], int3_insn[];
uint32_t do_div0(void), do_int30(void);
void do_ud2(void), do_gp(void), do_int3(void);

static uint64_t gdt[3] = {
    0,
    0x00cf9a000000ffffull, /* 0x08: flat 32-bit code */
    0x00cf92000000ffffull, /* 0x10: flat data */
};
static uint64_t idt[256];

static void gate(int vec, void *handler) {
    uint32_t a = (uint32_t)handler;
    idt[vec] = (a & 0xffff) | (0x08u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(a >> 16) << 48);
}

static const char *where(uint32_t eip) {
    if (eip == (uint32_t)div0_insn) return "div";
    if (eip == (uint32_t)ud2_insn) return "ud2";
    if (eip == (uint32_t)gp_insn) return "mov-ds";
    if (eip == (uint32_t)int3_insn) return "after-int3";
    return "elsewhere";
}

void isr(struct frame *f) {
    puts("vector ");
    put_hex(f->vector, 2);
    puts(" error ");
    put_hex(f->error, 4);
    puts(" at ");
    puts(f->vector == 48 ? "after-int" : where(f->eip));
    puts(" cs ");
    put_hex(f->cs, 4);
    puts(" if ");
    put_dec((f->eflags >> 9) & 1);
    putc('\n');
    if (f->vector == 0 || f->vector == 6 || f->vector == 13) f->eip += 2;
    if (f->vector == 48) f->eax += 0x1000;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = {sizeof gdt - 1, (uint32_t)gdt},
                                                                          idtr = {sizeof idt - 1, (uint32_t)idt};
    __asm__ volatile("lgdt %0" : : "m"(gdtr));
    __asm__ volatile("ljmp $0x08, $1f\n1:\n\tmov $0x10, %%ax\n\tmov %%ax, %%ds\n\tmov %%ax, %%es\n\tmov %%ax, %%ss" : : : "eax", "memory");
    gate(0, isr_0); gate(3, isr_3); gate(6, isr_6); gate(13, isr_13); gate(48, isr_48);
    __asm__ volatile("lidt %0" : : "m"(idtr));
    uint32_t r;
    if (cmdline_u32(mbi, "int", 1)) {
        r = do_int30();
        puts("int 0x30 returned eax ");
        put_hex(r, 8);
        putc('\n');
    }
    if (cmdline_u32(mbi, "int3", 1)) do_int3();
    r = do_div0();
    puts("after #DE eax ");
    put_hex(r, 8);
    putc('\n');
    if (cmdline_u32(mbi, "ud2", 1)) do_ud2();
    do_gp();
    uint32_t fl;
    __asm__ volatile("pushf; pop %0" : "=r"(fl));
    puts("done, if ");
    put_dec((fl >> 9) & 1);
    putc('\n');
    return 0;
}
