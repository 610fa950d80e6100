import { BadRequestException, ConflictException, ForbiddenException, NotFoundException } from '@nestjs/common';

// Bodies are {code, message}; the codes and texts, typos included
// ("room.not-fond", "must no not be"), are the original's wire contract.

export function roomConflict(roomId: string): ConflictException {
  return new ConflictException({ code: 'room.conflict', message: `Room with '${roomId}' already exists` });
}

export function roomNotFound(roomId: string): NotFoundException {
  return new NotFoundException({ code: 'room.not-fond', message: `Room with '${roomId}' not found` });
}

export function accessForbidden(): ForbiddenException {
  return new ForbiddenException({ code: 'access-forbidden', message: 'The access is forbidden' });
}

export function invalidParams(message: string): BadRequestException {
  return new BadRequestException({ code: 'req-params.validation', message: `Invalid parameters, ${message}` });
}
