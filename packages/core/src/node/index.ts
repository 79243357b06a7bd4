/** Node-only helpers (file system). Import from '@wsss/core/node'. */
export {};
