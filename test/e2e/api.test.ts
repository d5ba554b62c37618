import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatApiError } from '../../src/client/index.ts';
import { axis, newUser, startTestStack, type TestStack, type TestUser } from './stack.ts';

let t: TestStack;
let alice: TestUser;

beforeAll(async () => {
  t = await startTestStack();
  alice = await newUser(t);
});
afterAll(async () => {
  await t?.stop();
});

describe('happy paths', () => {
  it('messages: send, list, edit, delete', async () => {
    const { message } = await alice.chat.sendMessage({ role: 'user', content: 'hello', client_message_id: 'c1' });
    expect(message.content).toEqual({ type: 'text', text: 'hello' });
    expect(message.version).toBe(1);
    const page = await alice.chat.listMessages({ conversation_id: message.conversation_id });
    expect(page.messages.map((m) => m.id)).toEqual([message.id]);
    const edited = await alice.chat.editMessage(message.id, { content: { type: 'text', text: 'hello!' } });
    expect(edited.message.version).toBe(2);
    await alice.chat.deleteMessage(message.id);
    const after = await alice.chat.listMessages({ conversation_id: message.conversation_id });
    expect(after.messages).toEqual([]);
  });
});
