# + DA-KPN as a batch step on the GPU (DAKPNSegDataPreProcessor).
_base_ = ['./fcn_r50-d8_gta2cityscapes-720x1280_source-only.py']
bundle = 'work_dirs/dakpn/dakpn_bundle.pth'
model = dict(data_preprocessor=dict(
    _delete_=True, type='DAKPNSegDataPreProcessor', checkpoint=bundle,
    prob=1.0, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(720, 1280)))
