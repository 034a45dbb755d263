"""Text that Slurm 22.05 printed on the test cluster, for the parsers' and diagnosis' tests.

The scontrol and srun texts were captured from the one-node cluster of
``tests/slurm_cluster.py`` (task/cgroup and OverMemoryKill set-ups); the TIMEOUT ones from a
job run past a one-minute ``--time`` there (too slow to run in every test session); the sacct
rows from the same cluster started with accounting (``start(accounting=True)``).
"""

from __future__ import annotations

SCONTROL_OOM_CGROUP = (
    "JobId=4 JobName=python3 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901756 "
    "Nice=0 Account=(null) QOS=(null) JobState=OUT_OF_MEMORY Reason=OutOfMemory "
    "Dependency=(null) Requeue=1 Restarts=0 BatchFlag=0 Reboot=0 ExitCode=0:125 "
    "RunTime=00:00:01 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-12-01T22:09:32 "
    "NodeList=clt18019 BatchHost=clt18019 NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 "
    "ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=100M,node=1,billing=1 Socks/Node=* "
    "MinCPUsNode=1 MinMemoryNode=100M MinTmpDiskNode=0 Command=/work/venv/bin/python "
    "WorkDir=/tmp Comment=conda-limits:3ec0b1b040b42132  Power= \n")
SRUN_OOM_CGROUP = (
    "srun: error: clt18019: task 0: Out Of Memory",
    "slurmstepd-clt18019: error: Detected 1 oom-kill event(s) in StepId=4.0. Some of your "
    "processes may have been killed by the cgroup out-of-memory handler.",
)
SCONTROL_OOM_POLLING = (
    "JobId=1 JobName=python3 UserId=root(0) GroupId=root(0) JobState=FAILED "
    "Reason=JobLaunchFailure Dependency=(null) Requeue=1 Restarts=0 BatchFlag=0 Reboot=0 "
    "ExitCode=0:9 RunTime=00:00:01 TimeLimit=UNLIMITED TRES=cpu=1,mem=100M,node=1,billing=1 "
    "MinMemoryNode=100M Comment=conda-limits:7ec1b2bd8b247453  Power= \n")
SRUN_OOM_POLLING = (
    "slurmstepd-clt1242: error: StepId=1.0 exceeded memory limit (328282112 > 104857600), "
    "being killed",
    "srun: Exceeded job memory limit",
    "srun: Job step aborted: Waiting up to 7 seconds for job step to finish.",
    "slurmstepd-clt1242: error: *** STEP 1.0 ON clt1242 CANCELLED AT 2026-12-01T22:11:19 ***",
    "srun: error: clt1242: task 0: Killed",
)
SCONTROL_TIMEOUT = (
    "JobId=7 JobName=sleep UserId=root(0) GroupId=root(0) JobState=TIMEOUT Reason=TimeLimit "
    "Dependency=(null) ExitCode=0:15 RunTime=00:01:04 TimeLimit=00:01:00 "
    "TRES=cpu=1,mem=2G,node=1,billing=1 MinMemoryNode=0\n")
SRUN_TIMEOUT = (
    "srun: Job step aborted: Waiting up to 32 seconds for job step to finish.",
    "slurmstepd-vm: error: *** STEP 7.0 ON vm CANCELLED AT 2026-12-01T22:04:09 DUE TO TIME "
    "LIMIT ***",
    "srun: error: vm: task 0: Terminated",
)
SCONTROL_CANCELLED = (
    "JobId=7 JobName=canc UserId=root(0) GroupId=root(0) JobState=CANCELLED Reason=None "
    "ExitCode=0:15 RunTime=00:00:01 TimeLimit=UNLIMITED TRES=cpu=1,mem=2G,node=1,billing=1 "
    "MinMemoryNode=0 Command=sleep WorkDir=/tmp Power= \n")
SRUN_CANCELLED = (
    "srun: Job step aborted: Waiting up to 7 seconds for job step to finish.",
    "slurmstepd-clt18019: error: *** STEP 7.0 ON clt18019 CANCELLED AT 2026-12-01T22:10:50 ***",
    "srun: error: clt18019: task 0: Terminated",
)
# sacct on the test cluster with accounting (slurmdbd, MariaDB), job 2 ran out of memory:
# one second after srun returned, then once the record was complete
SACCT_EARLY = (
    "1|FAILED|3:0|16?|||00:00:01\n"
    "1.0|FAILED|3:0||0||00:00:01\n"
    "2|PENDING|0:0|16?|||00:00:01\n"
    "2.0|RUNNING|0:0||||00:00:01\n"
)
SACCT = (
    "1|FAILED|3:0|100M||UNLIMITED|00:00:01\n"
    "1.0|FAILED|3:0||0||00:00:01\n"
    "2|OUT_OF_MEMORY|0:125|100M||UNLIMITED|00:00:01\n"
    "2.0|OUT_OF_MEMORY|0:125||0||00:00:01\n"
)
