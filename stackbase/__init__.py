"""What the three host tools (localcluster, s3stack, kindstack) share.

Each tool is a program of its own, and a tool that reached into another's modules would break
when that tool's insides change. So what more than one of them needs lives here, and a tool
takes from another only the few names that tool's ``__all__`` offers. Nothing here imports a
tool; of the suite's library it reads only ``labkit.settings`` and ``labkit.lab``
(``labimages`` alone reads the lab's facts).
"""
