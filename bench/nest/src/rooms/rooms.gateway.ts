import { OnGatewayConnection, OnGatewayDisconnect, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { accessForbidden } from './rooms.errors';
import { Message, Participant } from './rooms.model';
import { RoomsService } from './rooms.service';

// The little of socket.io 2's API this gateway touches.
interface ChatSocket {
  id: string;
  disconnect(close?: boolean): void;
}

interface ChatServer {
  emit(event: string, ...args: unknown[]): boolean;
}

interface JoinRequest {
  roomId: string;
  username: string;
  avatar: string;
}

interface ExchangeRequest {
  roomId: string;
  username: string;
  content: string;
  createdAt: string;
}

// Reproduces the original gateway, flaws included, because it is the
// baseline the Go server is measured against:
//   - every event goes to EVERY connected socket (server.emit), members or not;
//   - "exchanges" has no membership check and trusts the claimed username;
//   - handlers never return a value, so client ack callbacks are never called.
@WebSocketGateway()
export class RoomsGateway implements OnGatewayConnection, OnGatewayDisconnect {
  @WebSocketServer()
  server: ChatServer;

  // The room each socket joined last, so a disconnect can find its entry.
  private readonly joinedRoom = new Map<string, string>();

  constructor(private readonly rooms: RoomsService) {}

  handleConnection(_client: ChatSocket): void {
    // Nothing to do until the client joins a room.
  }

  // If the room was closed, nothing is emitted. If it was closed and created
  // again with the same id, the new room has no entry for this socket and the
  // assignment throws a TypeError that Nest 7 reports outside any handler:
  // the process exits. That is the original's crash, kept on purpose.
  handleDisconnect(client: ChatSocket): void {
    const roomId = this.joinedRoom.get(client.id);
    if (roomId === undefined) {
      return;
    }
    this.joinedRoom.delete(client.id);
    const room = this.rooms.find(roomId);
    if (!room) {
      return;
    }
    room.participants.get(client.id).connected = false;
    this.server.emit(`participants/${roomId}`, Array.from(room.participants.values()));
  }

  // Unknown room (or no roomId): disconnect first, then throw; the resulting
  // "exception" emit goes to a socket that is already gone, so the client
  // only sees "io server disconnect".
  @SubscribeMessage('participants')
  onParticipants(client: ChatSocket, data: JoinRequest): void {
    const roomId = data.roomId;
    const room = this.rooms.find(roomId);
    if (!room) {
      client.disconnect();
      throw accessForbidden();
    }
    const participant: Participant = {
      roomId,
      username: data.username,
      avatar: data.avatar,
      connected: true,
    };
    room.participants.set(client.id, participant);
    this.joinedRoom.set(client.id, roomId);
    this.server.emit(`participants/${roomId}`, Array.from(room.participants.values()));
  }

  // Unknown or closed room: reading room.messages throws a TypeError, which
  // Nest answers with "exception" {"status":"error","message":"Internal server
  // error"} to the sender alone.
  @SubscribeMessage('exchanges')
  onExchanges(_client: ChatSocket, data: ExchangeRequest): void {
    const room = this.rooms.find(data.roomId);
    const message: Message = {
      order: room.messages.length + 1,
      username: data.username,
      content: data.content,
      createdAt: data.createdAt,
    };
    room.messages.push(message);
    this.server.emit(data.roomId, message);
  }
}
