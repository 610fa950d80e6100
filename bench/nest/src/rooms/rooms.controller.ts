import { Body, Controller, Delete, Get, HttpCode, Param, ParseIntPipe, Post, Query } from '@nestjs/common';
import { CreateRoomDto } from './create-room.dto';
import { accessForbidden, invalidParams } from './rooms.errors';
import { Message } from './rooms.model';
import { RoomsService } from './rooms.service';

@Controller('api/v1/rooms')
export class RoomsController {
  constructor(private readonly rooms: RoomsService) {}

  // 201 with an empty body.
  @Post()
  create(@Body() dto: CreateRoomDto): void {
    this.rooms.create(dto.roomId, dto.creatorUsername);
  }

  // Index checks come before the room lookup, so an unknown room with bad
  // indexes answers 400, not 403. ParseIntPipe truncates "1.5" to 1.
  @Get(':roomId/messages')
  messages(
    @Param('roomId') roomId: string,
    @Query('fromIndex', ParseIntPipe) fromIndex: number,
    @Query('toIndex', ParseIntPipe) toIndex: number,
  ): Message[] {
    if (fromIndex <= 0 || toIndex <= 0) {
      throw invalidParams(`'fromIndex' and 'toIndex' must be positive`);
    }
    if (toIndex < fromIndex) {
      throw invalidParams(`'toIndex' must no not be less than 'fromIndex'`);
    }
    const room = this.rooms.find(roomId);
    if (!room) {
      throw accessForbidden();
    }
    return room.messages.slice(fromIndex - 1, toIndex);
  }

  @Delete(':roomId')
  @HttpCode(204)
  close(@Param('roomId') roomId: string): void {
    this.rooms.close(roomId);
  }
}
