/**
 * The fixed vocabularies of the API. Postgres declares them (enum types in 20250805074444, the single
 * source); these lists are their labels in declaration order, for the zod enums below, because an edge
 * function may import nothing outside supabase/functions. test/contract.test.ts checks every list against
 * the database's enum_range() and the generated types' `Constants`, so neither side can drift.
 */
import { z } from 'zod';

export const VOCABULARIES = {
  message_role: ['user', 'assistant', 'system', 'tool'],
  session_status: ['active', 'idle', 'closed'],
  memory_type: ['episodic', 'semantic', 'procedural', 'working'],
  state_type: ['local', 'shared', 'session', 'persistent'],
  checkpoint_type: ['auto', 'manual', 'pre_migration', 'recovery'],
} as const;

export const messageRole = z.enum(VOCABULARIES.message_role);
export const sessionStatus = z.enum(VOCABULARIES.session_status);
export const memoryType = z.enum(VOCABULARIES.memory_type);
export const stateType = z.enum(VOCABULARIES.state_type);
export const checkpointType = z.enum(VOCABULARIES.checkpoint_type);
