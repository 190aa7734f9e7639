"""Host-side (numpy) loaders for mocap, SyRIP, Human3.6M, COCO and MINI-RGBD."""
