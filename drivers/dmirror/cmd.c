// SPDX-License-Identifier: MIT
/*
 * dmirror's commands: the kernel driver's ioctl. dmirror_cmd() checks the
 * command's range, holds the mm and the mirror's cmd_lock, and
 * dmirror_run() hands the command to the file that implements it:
 * mirror.c (READ, WRITE, SNAPSHOT, EXCLUSIVE, CHECK_EXCLUSIVE),
 * migrate.c (MIGRATE_TO_DEV, MIGRATE_TO_SYS) and device.c (RELEASE).
 * Nothing else calls into this file, so the dependencies among the
 * others go one way: migrate.c uses mirror.c, both use device.c.
 */
#include "dmirror_internal.h"

static int dmirror_run(struct dmirror *dmirror, unsigned int command,
		       struct hmm_dmirror_cmd *cmd)
{
	int ret;

	switch (command) {
	case HMM_DMIRROR_READ:
		return dmirror_access(dmirror, cmd, false);
	case HMM_DMIRROR_WRITE:
		return dmirror_access(dmirror, cmd, true);
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		ret = dmirror_migrate_to_device(dmirror, cmd);
		break;
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		return dmirror_migrate_to_system(dmirror, cmd);
	case HMM_DMIRROR_SNAPSHOT:
		return dmirror_snapshot(dmirror, cmd);
	case HMM_DMIRROR_EXCLUSIVE:
		ret = dmirror_exclusive(dmirror, cmd);
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		return dmirror_check_atomic(dmirror, cmd);
	case HMM_DMIRROR_RELEASE:
		dmirror_device_remove_chunks(dmirror->mdevice);
		return 0;
	case HMM_DMIRROR_FLAGS:
		dmirror->flags = cmd->npages;
		return 0;
	default:
		return -EINVAL;
	}
	/* MIGRATE_TO_DEV and EXCLUSIVE hand back what the device now holds
	 * over the range, for verification. */
	if (ret)
		return ret;
	return dmirror_read_back(dmirror, cmd);
}

int dmirror_cmd(struct dmirror *dmirror, unsigned int command,
		struct hmm_dmirror_cmd *ucmd)
{
	struct hmm_dmirror_cmd cmd;
	int ret;

	if (!dmirror || !ucmd)
		return -EINVAL;
	cmd = *ucmd;
	if (cmd.addr & ~PAGE_MASK)
		return -EINVAL;
	if (cmd.npages > (ULONG_MAX >> PAGE_SHIFT) ||
	    cmd.addr >= cmd.addr + (cmd.npages << PAGE_SHIFT))
		return -EINVAL;
	cmd.cpages = 0;
	cmd.faults = 0;
	/*
	 * Every command, RELEASE and FLAGS included, needs a live mm, and
	 * keeps it alive until it ends. (The kernel driver's READ and WRITE
	 * spin when the mm is gone.)
	 */
	if (!mmget_not_zero(dmirror->mm))
		return -EINVAL;
	pthread_mutex_lock(&dmirror->cmd_lock);
	ret = dmirror_run(dmirror, command, &cmd);
	pthread_mutex_unlock(&dmirror->cmd_lock);
	mmput(dmirror->mm);
	if (ret)
		return ret;
	*ucmd = cmd;
	return 0;
}
