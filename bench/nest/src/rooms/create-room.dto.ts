import { IsNotEmpty } from 'class-validator';

// Only IsNotEmpty: the original answers {} with exactly
// ["roomId should not be empty","creatorUsername should not be empty"].
export class CreateRoomDto {
  @IsNotEmpty()
  roomId: string;

  @IsNotEmpty()
  creatorUsername: string;
}
