// The events this server adds to the original's: 'chat' (exchanges with an
// ack) and the typed 'messages' (group, direct), with both generations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Scope, createRoom, generations, join, participant } from './lib.mjs';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

for (const gen of generations) {
  test(`${gen.key}: chat and messages acks, direct messages`, { timeout: 30000 }, async () => {
    const scope = new Scope();
    const room = scope.room('chat-room');
    await createRoom(room);
    const open = (name) => scope.open(gen, name);
    try {
      // Each joins right after connecting, so every earlier socket gets one
      // list per later join in both delivery modes.
      const alice = await open('alice');
      join(alice, room, 'Alice');
      await alice.expect(`participants/${room}`);
      const bob = await open('bob');
      join(bob, room, 'Bob');
      await bob.expect(`participants/${room}`);
      await alice.expect(`participants/${room}`);
      const carol = await open('carol');
      join(carol, room, 'Carol');
      const list = await carol.expect(`participants/${room}`);
      assert.deepEqual(list, ['Alice', 'Bob', 'Carol'].map((u) => participant(room, u, true)));
      await alice.expect(`participants/${room}`, list);
      await bob.expect(`participants/${room}`, list);
      const members = [alice, bob, carol];

      // chat: stored, broadcast, acked with the stored message; the username
      // defaults to the one the socket joined with
      const m1 = await alice.call('chat', { roomId: room, content: 'hello' });
      assert.equal(m1.order, 1);
      assert.equal(m1.username, 'Alice');
      assert.equal(m1.content, 'hello');
      assert.match(m1.createdAt, ISO);
      for (const c of members) await c.expect(room, m1);

      // messages/group: the same as chat
      const m2 = await bob.call('messages', { type: 'group', roomId: room, content: 'group hello' });
      assert.deepEqual({ ...m2, createdAt: 'x' }, { order: 2, username: 'Bob', content: 'group hello', createdAt: 'x' });
      for (const c of members) await c.expect(room, m2);

      // errors come back in the ack as {code, message}
      assert.deepEqual(await alice.call('chat', { roomId: 'no-such-room', content: 'x' }), { code: 'room.not-fond', message: "Room with 'no-such-room' not found" });
      assert.deepEqual(await alice.call('chat', { roomId: room }), { code: 'req-params.validation', message: 'content should not be empty' });
      assert.deepEqual(await alice.call('messages', { type: 'shout', roomId: room, content: 'x' }), { code: 'messages.unsupported-type', message: "Unsupported message type 'shout'" });
      assert.deepEqual(await alice.call('messages', { roomId: room, content: 'x' }), { code: 'req-params.validation', message: 'type should not be empty' });
      assert.deepEqual(await alice.call('messages', { type: 'direct', roomId: room, to: 'Nobody', content: 'x' }), { code: 'messages.unknown-recipient', message: `No participant 'Nobody' in room '${room}'` });

      // messages/direct: only Bob's sockets and the sender, not stored
      const dm = await alice.call('messages', { type: 'direct', roomId: room, to: 'Bob', content: 'psst' });
      assert.match(dm.createdAt, ISO);
      assert.deepEqual(dm, { type: 'direct', roomId: room, from: 'Alice', to: 'Bob', content: 'psst', createdAt: dm.createdAt });
      await bob.expect('messages', dm);
      await alice.expect('messages', dm);
      // Not in history: the next message is order 3. It also is the marker
      // after which Carol must have nothing else.
      const m3 = await carol.call('chat', { roomId: room, content: 'after the whisper' });
      assert.equal(m3.order, 3);
      for (const c of members) await c.expect(room, m3);
      for (const c of members) {
        await c.ping();
        c.assertNothingElse();
      }
    } finally {
      scope.closeAll();
    }
  });
}
