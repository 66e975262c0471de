// SPDX-License-Identifier: MIT
/*
 * The CPU's page fault: a load, store or instruction fetch in a window
 * that the host has no mapping for raises SIGSEGV in the thread that
 * made it. The handler finds the mm of the window, runs handle_mm_fault()
 * as the kernel's page-fault handler would, maps the run of PTEs around
 * the address in the host (at most a block; executable where the VMA is
 * VM_EXEC), and returns: the instruction runs again and hits.
 *
 * A fault the mm refuses (no VMA, no permission, SIGBUS from the fault
 * handler) goes to the handler the program had before, with every uhmm
 * lock dropped, so that handler may siglongjmp() out; with none, the
 * process dies of the signal as the kernel would make it.
 *
 * The handler takes mmap_lock for read and page-table locks: a thread
 * must not touch managed memory while it holds one of them (inside an
 * mmu notifier or a migrate_to_ram callback), as kernel code must not
 * fault on user memory under mmap_lock.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "cpu/window.h"
#include "mm/mm_internal.h"
#include "settings.h"

static struct sigaction prev_segv;	/* set once, before ours is in */

/* The host memory behind a present PTE at addr: fd and offset. false
 * where the CPU cannot reach the page. */
static bool pte_backing(pte_t pte, unsigned long addr, int *fd, off_t *off)
{
	unsigned long pfn = pte_pfn(pte);
	struct page *page;

	if (pfn == page_to_pfn(zero_page())) {
		*fd = host_zero_fd;
		*off = (off_t)(addr & (PMD_SIZE - 1));
		return true;
	}
	if (pfn_is_ram(pfn)) {
		*fd = system_ram.fd;
		*off = (off_t)pfn << PAGE_SHIFT;
		return true;
	}
	page = pfn_to_page(pfn);
	if (!page || !is_device_coherent_page(page))
		return false;
	*fd = page->pgmap->backing_fd;
	*off = (off_t)(pfn - page->pgmap->pfn_first) << PAGE_SHIFT;
	return true;
}

/*
 * Writable in the host only once dirty: a write to a clean PTE traps,
 * and handle_mm_fault() marks it dirty, as the CPU would set the bit.
 */
static int pte_host_prot(struct vm_area_struct *vma, pte_t pte)
{
	int prot = PROT_READ;

	if (pte_write(pte) && pte_dirty(pte))
		prot |= PROT_WRITE;
	if (vma->vm_flags & VM_EXEC)
		prot |= PROT_EXEC;
	return prot;
}

/*
 * Does pte, at addr, continue a run of prot on fd, at off for it? Not
 * where the host maps it already: mapping it again would cost a zap and
 * a populate of a page that is there.
 */
static bool run_continues(struct vm_area_struct *vma, pte_t pte,
			  unsigned long addr, int prot, int fd, off_t off)
{
	int pfd;
	off_t poff;

	if (!pte_present(pte) || pte_host_mapped(pte) ||
	    !pte_backing(pte, addr, &pfd, &poff))
		return false;
	return pfd == fd && poff == off && pte_host_prot(vma, pte) == prot;
}

/*
 * Map the page at addr in the host, with the run of neighbours in its
 * aligned block (uhmm_config.anon_block_pages: what a first touch
 * populates is what a miss maps) that share its protection and whose
 * pages follow each other in the same backing: one host mapping, which
 * the host merges with adjacent ones. Not the whole PTE table: most of
 * it is mapped already when pages are touched in order, and mapping it
 * again on every miss would cost a table's worth of work per fault. For
 * the same reason the run stops at a PTE the host maps already
 * (_PAGE_HOST_MAPPED): a page brought back from a device between mapped
 * neighbours is mapped alone.
 * Returns MAP_RUN_DONE if mapped, MAP_RUN_FAULT if the PTE does not
 * allow the access yet (fault first), MAP_RUN_NOEXEC for a fetch from a
 * page of a VMA without VM_EXEC, -errno if the host refused.
 */
enum { MAP_RUN_FAULT, MAP_RUN_DONE, MAP_RUN_NOEXEC };

static int map_run(struct vm_area_struct *vma, unsigned long addr,
		   bool write, bool fetch)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned long block = PAGE_SIZE << settings->anon_block_order;
	unsigned long lo = max(ALIGN_DOWN(addr, block), vma->vm_start);
	unsigned long hi = min(ALIGN_DOWN(addr, block) + block, vma->vm_end);
	unsigned long start, end;
	spinlock_t *ptl;
	pte_t *ptep, *run, pte;
	pmd_t *pmd;
	off_t off;
	int fd, prot, err;

	pmd = pte_table_lookup(mm, addr);
	if (!pmd)
		return 0;
	ptep = pte_offset_map_lock(pmd, addr, &ptl);
	pte = ptep_get(ptep);
	if (!pte_present(pte) || !pte_backing(pte, addr, &fd, &off) ||
	    (write && !(pte_write(pte) && pte_dirty(pte)))) {
		pte_unmap_unlock(ptep, ptl);
		return MAP_RUN_FAULT;
	}
	/* As x86's fault handler: a fetch from a page that is not there
	 * faults it in like a load (a page past the end of a file is
	 * SIGBUS), and from one that is there is SIGSEGV without VM_EXEC.
	 * Mapped readable, the page would refuse the fetch again for
	 * ever. */
	if (fetch && !(vma->vm_flags & VM_EXEC)) {
		pte_unmap_unlock(ptep, ptl);
		return MAP_RUN_NOEXEC;
	}
	prot = pte_host_prot(vma, pte);

	for (start = addr; start > lo; start -= PAGE_SIZE)
		if (!run_continues(vma,
				   ptep_get(ptep - (addr - start) / PAGE_SIZE - 1),
				   start - PAGE_SIZE, prot, fd,
				   off - (off_t)(addr - start) - PAGE_SIZE))
			break;
	for (end = addr + PAGE_SIZE; end < hi; end += PAGE_SIZE)
		if (!run_continues(vma, ptep_get(ptep + (end - addr) / PAGE_SIZE),
				   end, prot, fd, off + (off_t)(end - addr)))
			break;
	off -= (off_t)(addr - start);

	/* Before the mapping exists, the marks of what the host may map:
	 * see src/cpu/tlb.c. */
	set_page_flag(table_entry_page(table_entry_read(&pmd->pmd)),
		      PG_host_mapped);
	run = ptep - (addr - start) / PAGE_SIZE;
	for (unsigned long a = start; a < end; a += PAGE_SIZE, run++) {
		pte = ptep_get(run);
		if (!pte_young(pte) || !pte_host_mapped(pte))
			ptep_set_access_flags(vma, a, run,
					pte_mkhost_mapped(pte_mkyoung(pte)));
	}
	err = host_map(mm, start, end - start, prot, fd, off);
	if (err == -ENOMEM) {
		/* Out of host mappings (vm.max_map_count): flush the whole
		 * TLB and map again. */
		host_unmap_all(mm);
		err = host_map(mm, start, end - start, prot, fd, off);
	}
	pte_unmap_unlock(ptep, ptl);
	return err ? err : MAP_RUN_DONE;
}

/*
 * Resolve a CPU access to addr of mm. 0 when the host maps the page now,
 * else the signal to deliver (SIGSEGV or SIGBUS) with its code in *code.
 */
/* What the faulting instruction did, as far as the signal context says. */
enum cpu_access {
	ACCESS_UNKNOWN = -1,	/* a load or a store */
	ACCESS_READ,
	ACCESS_WRITE,
	ACCESS_FETCH,		/* an instruction fetch */
};

static int cpu_fault(struct mm_struct *mm, unsigned long addr,
		     enum cpu_access access, int *code)
{
	int write = access == ACCESS_UNKNOWN ? -1 : access == ACCESS_WRITE;
	int sig = 0;

	mmap_read_lock(mm);
	for (;;) {
		struct vm_area_struct *vma = vma_lookup(mm, addr);
		unsigned int flags = FAULT_FLAG_USER;
		vm_fault_t ret;
		int mapped;

		if (!vma) {
			sig = SIGSEGV;
			*code = SEGV_MAPERR;
			break;
		}
		/* Unknown direction (see fault_access()): a write
		 * where one is allowed. */
		if (write < 0)
			write = !!(vma->vm_flags & VM_WRITE);
		if (!(vma->vm_flags & (write ? VM_WRITE : VM_ACCESS_FLAGS))) {
			sig = SIGSEGV;
			*code = SEGV_ACCERR;
			break;
		}
		mapped = map_run(vma, addr, write, access == ACCESS_FETCH);
		if (mapped == MAP_RUN_DONE)
			break;
		if (mapped == MAP_RUN_NOEXEC) {
			sig = SIGSEGV;
			*code = SEGV_ACCERR;
			break;
		}
		if (mapped < 0) {
			fprintf(stderr, "uhmm: the host cannot map %#lx: %s "
				"(see vm.max_map_count in the README)\n",
				addr, strerror(-mapped));
			sig = SIGBUS;
			*code = BUS_ADRERR;
			break;
		}
		if (write)
			flags |= FAULT_FLAG_WRITE;
		ret = handle_mm_fault(vma, addr, flags);
		if (ret & VM_FAULT_OOM) {
			sig = SIGBUS;
			*code = -ENOMEM;
			break;
		}
		if (ret & VM_FAULT_SIGBUS) {
			sig = SIGBUS;
			*code = BUS_ADRERR;
			break;
		}
		if (ret & VM_FAULT_SIGSEGV) {
			sig = SIGSEGV;
			*code = SEGV_ACCERR;
			break;
		}
	}
	mmap_read_unlock(mm);
	return sig;
}

/* The x86 page-fault error code (REG_ERR): a store, a fetch. */
#define X86_PF_WRITE	0x02
#define X86_PF_INSTR	0x10

/*
 * The access that raised SIGSEGV. Where the context does not say
 * (other than x86-64), a load or a store, which cpu_fault() tells apart
 * by the VMA; a fetch from a VMA without VM_EXEC then faults for ever.
 */
static enum cpu_access fault_access(const siginfo_t *info, const void *uctx)
{
#if defined(__x86_64__)
	const ucontext_t *uc = uctx;
	unsigned long err = (unsigned long)uc->uc_mcontext.gregs[REG_ERR];
	unsigned long ip = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];

	/* PF_INSTR is set where NX is on, as on every x86-64 Linux; the
	 * instruction pointer at the faulting byte says it too. */
	if ((err & X86_PF_INSTR) ||
	    (!(err & X86_PF_WRITE) && ip == (unsigned long)info->si_addr))
		return ACCESS_FETCH;
	return err & X86_PF_WRITE ? ACCESS_WRITE : ACCESS_READ;
#else
	(void)info;
	(void)uctx;
	return ACCESS_UNKNOWN;
#endif
}

bool uhmm_handle_fault(void *siginfo, void *ucontext)
{
	siginfo_t *info = siginfo;
	unsigned long haddr = (unsigned long)info->si_addr;
	struct mm_struct *mm;
	int sig, code;

	if (info->si_signo != SIGSEGV)
		return false;
	mm = window_get_mm(haddr);
	if (!mm)
		return false;
	sig = cpu_fault(mm, (haddr - mm->window_delta) & PAGE_MASK,
			fault_access(info, ucontext), &code);
	mmput(mm);
	if (!sig)
		return true;
	info->si_signo = sig;
	info->si_code = code < 0 ? BUS_ADRERR : code;
	/* Out of memory, where the kernel would call the OOM killer: a
	 * SIGBUS that says so. */
	info->si_errno = code < 0 ? -code : 0;
	return false;
}

/* Give the signal to the program's handler, or die of it. */
static void hand_on(siginfo_t *info, void *ucontext)
{
	int sig = info->si_signo;
	struct sigaction act;

	if (sig == SIGSEGV)
		act = prev_segv;
	else
		sigaction(sig, NULL, &act);
	if (act.sa_flags & SA_SIGINFO) {
		act.sa_sigaction(sig, info, ucontext);
		return;
	}
	if (act.sa_handler != SIG_DFL && act.sa_handler != SIG_IGN) {
		act.sa_handler(sig);
		return;
	}
	/* The kernel would not let a fault be ignored either. */
	signal(sig, SIG_DFL);
	if (sig != SIGSEGV) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, sig);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
	}
	/* SIGSEGV: the access runs again and faults with nothing to catch
	 * it. */
}

static void segv_handler(int sig, siginfo_t *info, void *ucontext)
{
	int saved_errno = errno;

	(void)sig;
	if (!uhmm_handle_fault(info, ucontext))
		hand_on(info, ucontext);
	errno = saved_errno;
}

int uhmm_install_fault_handler(void)
{
	struct sigaction act = {
		.sa_sigaction = segv_handler,
		.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART,
	};
	struct sigaction cur;
	int err = ensure_initialized();

	if (err)
		return err;
	if (sigaction(SIGSEGV, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == segv_handler)
		return 0;
	sigemptyset(&act.sa_mask);
	prev_segv = cur;
	if (sigaction(SIGSEGV, &act, NULL) < 0)
		return -errno;
	/* A sanitizer that keeps SIGSEGV for itself drops our handler
	 * without a word; pointers into managed memory would then crash. */
	if (sigaction(SIGSEGV, NULL, &cur) == 0 &&
	    cur.sa_sigaction != segv_handler) {
		fprintf(stderr, "uhmm: the SIGSEGV handler was refused (a "
			"sanitizer with handle_segv=2?): CPU access through "
			"pointers will not work\n");
		return -EBUSY;
	}
	return 0;
}
