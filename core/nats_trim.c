/* nats_trim.c: after nats_Open, this process stops mapping the OpenSSL code and constants that
 * libnats' start-up touched (its NUID seed, RAND_bytes): about 3 MiB of every NATS node's RSS,
 * shared with the page cache, that a plain nats:// connection never reads again. */
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nats_int.h"

struct range {
    uintptr_t lo, hi;
};

/* The object's pages that are written or may be (writable segments, RELRO): never dropped. */
static int written(const struct dl_phdr_info *info, uintptr_t page, uintptr_t lo, uintptr_t hi)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        int rw = (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) || ph->p_type == PT_GNU_RELRO ||
                 ph->p_type == PT_DYNAMIC;
        if (!rw)
            continue;
        uintptr_t a = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
        uintptr_t b = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + page - 1) & ~(page - 1);
        if (a < hi && lo < b)
            return 1;
    }
    return 0;
}

/* Text relocations write into the read-only segments at load: such an object is left alone. */
static int text_relocated(const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_DYNAMIC)
            continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
             d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)))
                return 1;
    }
    return 0;
}

static int drop_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    const char *name = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
    name = name ? name + 1 : info->dlpi_name;
    if (!name || (strncmp(name, "libcrypto.so", 12) != 0 && strncmp(name, "libssl.so", 9) != 0))
        return 0;
    if (text_relocated(info))
        return 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
            continue;
        /* whole pages inside the read-only segment, one at a time past the written ones */
        uintptr_t lo = (info->dlpi_addr + ph->p_vaddr + page - 1) & ~(page - 1);
        uintptr_t hi = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz) & ~(page - 1);
        struct range run = {0, 0};
        for (uintptr_t p = lo; p < hi; p += page) {
            if (written(info, page, p, p + page)) {
                if (run.hi > run.lo)
                    madvise((void *)run.lo, run.hi - run.lo, MADV_DONTNEED);
                run.lo = run.hi = 0;
                continue;
            }
            if (run.hi != p)
                run.lo = p;
            run.hi = p + page;
        }
        if (run.hi > run.lo)
            madvise((void *)run.lo, run.hi - run.lo, MADV_DONTNEED);
    }
    return 0;
}

void fdn_nats_trim(void)
{
    dl_iterate_phdr(drop_object, NULL);
}
