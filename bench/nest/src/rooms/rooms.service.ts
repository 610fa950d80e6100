import { Injectable } from '@nestjs/common';
import { roomConflict, roomNotFound } from './rooms.errors';
import { Room } from './rooms.model';

// In-memory, like the original: everything is lost when the process exits.
@Injectable()
export class RoomsService {
  private readonly rooms = new Map<string, Room>();

  create(roomId: string, creatorUsername: string): void {
    if (this.rooms.has(roomId)) {
      throw roomConflict(roomId);
    }
    this.rooms.set(roomId, { roomId, creatorUsername, messages: [], participants: new Map() });
  }

  // Undefined for an unknown room; callers decide what that means (403 on
  // REST, a disconnect or a TypeError on the socket).
  find(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  close(roomId: string): void {
    if (!this.rooms.delete(roomId)) {
      throw roomNotFound(roomId);
    }
  }
}
