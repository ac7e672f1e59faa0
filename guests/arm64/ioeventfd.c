/* ioeventfd: an MMIO doorbell claimed by KVM_IOEVENTFD with datamatch. The
   guest rings it N times with the matching value -- the kernel signals the
   eventfd and the vCPU never exits to userspace -- and once with another
   value, which does exit. The device reports both counts. */
#include "common/testdev.h"

#define RINGS 100

int main(uint64_t dtb) {
    (void)dtb;
    check(td_read(TD_ID) == 0x54535444, "the test device answers");
    td_read(TD_DOORBELL_COUNT);                   /* sets the device up, drains nothing */
    for (int i = 0; i < RINGS; i++) td_write(TD_DOORBELL, DOORBELL_MAGIC);
    td_write(TD_DOORBELL, 0x1234);
    uint32_t n = td_read(TD_DOORBELL_COUNT), u = td_read(TD_DOORBELL_UNMATCHED);
    puts("doorbell rings seen through the eventfd: ");
    put_dec(n);
    puts(", writes that exited: ");
    put_dec(u);
    putc('\n');
    check(n == RINGS, "every matching write reached the eventfd");
    check(u == 1, "only the non-matching write exited to the VMM");
    check(td_read(TD_DOORBELL_COUNT) == 0, "the count drains on read");
    return 0;
}
