//! wdm.h types and kernel routines this driver imports. Owned by the `kernel` floor's author.
