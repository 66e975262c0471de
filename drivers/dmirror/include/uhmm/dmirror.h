/* SPDX-License-Identifier: MIT */
/*
 * dmirror: a device that mirrors an mm, the user-space twin of the
 * kernel's HMM test driver (lib/test_hmm.c) with its interface
 * (lib/test_hmm_uapi.h): the same command structure, command numbers and
 * snapshot bytes, so test programs port with little change.
 *
 * Devices 0 and 1 have device-private memory, each its own owner; 2 and
 * 3 have device-coherent memory. Each dmirror_open() is one mirror (one
 * open file of the kernel's device) of one mm on one device; every
 * mirror of a device shares that device's memory.
 *
 * In a command, addr is an address of the mirrored mm and ptr a buffer
 * of this process of npages pages (SNAPSHOT: npages bytes).
 *
 * A library of its own above libuhmm: libuhmm-dmirror, pkg-config
 * uhmm-dmirror. <uhmm/uhmm.h> does not include this header.
 */
#ifndef UHMM_DMIRROR_H
#define UHMM_DMIRROR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include <uhmm/compiler.h>

UHMM_BEGIN_DECLS

struct mm_struct;
struct dmirror;

struct hmm_dmirror_cmd {
	uint64_t addr;		/* start of the range in the mm */
	uint64_t ptr;		/* the caller's buffer */
	uint64_t npages;	/* pages in the range (FLAGS: the flags) */
	uint64_t cpages;	/* out: pages the command handled */
	uint64_t faults;	/* out: fault passes (READ and WRITE) */
};

/* Numerically the kernel's ioctl commands. */
#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_FLAGS		_IOWR('H', 0x08, struct hmm_dmirror_cmd)

/* HMM_DMIRROR_FLAGS: the next device page allocation fails (once). */
#define HMM_DMIRROR_FLAG_FAIL_ALLOC	(1ULL << 0)

/* One byte per page written by HMM_DMIRROR_SNAPSHOT. */
enum {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
};

enum {
	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1,
	HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
};

#define DMIRROR_NDEVICES	4

/*
 * Mirror mm on device (0 to DMIRROR_NDEVICES - 1); the mirror holds an
 * mm_count reference, not mm_users, so it does not keep the address
 * space alive. NULL with errno EINVAL (bad device, mm without users)
 * or ENOMEM.
 */
struct dmirror *dmirror_open(struct mm_struct *mm, int device);

/*
 * Run one command. Returns 0 or a negative errno: -EINVAL (unknown
 * command, unaligned addr, npages 0 or a range that wraps, a mirror whose
 * mm has exited), -EFAULT (a page that cannot be read or faulted),
 * -EPERM (a write to a read-only page; CHECK_EXCLUSIVE: a page still
 * held exclusively), -ENOENT (MIGRATE_TO_DEV: a page of the range is not
 * on this device afterwards), -ENOMEM, -EBUSY. On failure cmd->cpages
 * and cmd->faults are left as they were.
 */
int dmirror_cmd(struct dmirror *dmirror, unsigned int command,
		struct hmm_dmirror_cmd *cmd);

/*
 * mmap(2) of the device file (the kernel driver's dmirror_fops_mmap):
 * map len bytes of the mirrored mm to fresh zeroed pages of system RAM
 * that the driver inserts (vm_insert_page(), VM_MIXEDMAP). prot and
 * flags as uhmm_mmap() without MAP_ANONYMOUS. In a private mapping the
 * pages are read-only to devices and copied on a CPU write. They are
 * freed with the mapping (munmap, mm exit); the mapping does not need
 * the mirror, which may be closed first. Returns the address in the
 * mm, or MAP_FAILED with errno: EINVAL (bad arguments, a mirror whose
 * mm has exited), EEXIST, ENOMEM.
 */
void *dmirror_mmap(struct dmirror *dmirror, void *addr, size_t len, int prot,
		   int flags);

/* Unmirror and free. The device memory it used stays with the device. */
void dmirror_close(struct dmirror *dmirror);

/*
 * Counters of a device (the kernel driver prints the same on removal).
 * Returns 0, or -EINVAL for a bad device.
 */
struct dmirror_device_stats {
	unsigned long chunks_allocated;	/* memory chunks memremapped */
	unsigned long chunks_freed;	/* chunks torn down */
	unsigned long pages_allocated;	/* device pages handed out */
	unsigned long pages_freed;	/* device pages given back */
	unsigned long pages_in_use;	/* allocated - freed */
	int memory_type;		/* HMM_DMIRROR_MEMORY_DEVICE_* */
};
int dmirror_device_stats(int device, struct dmirror_device_stats *stats);

UHMM_END_DECLS

#endif /* UHMM_DMIRROR_H */
