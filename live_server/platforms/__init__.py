"""Live platforms: the platform rooms (Douyin, or any platform through a brand's bridge) a
room companions, their signed pushes, and what each message does to the room."""
